package e2e

import (
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/examples/chat/chat"
	"github.com/gorilla/websocket"
)

// twoByTwo starts a register, two gateways and two command workers.
func twoByTwo(t *testing.T) *cluster {
	c := newCluster(t)
	c.addGateway("g1", nil)
	c.addGateway("g2", nil)
	c.addWorker("w1", &cmdHandler{name: "w1"})
	c.addWorker("w2", &cmdHandler{name: "w2"})
	c.waitLinked(2)
	return c
}

func TestE2EGroupChatAcrossGateways(t *testing.T) {
	c := newCluster(t)
	g1 := c.addGateway("g1", nil)
	g2 := c.addGateway("g2", nil)
	c.addWorker("chat1", &chat.Handler{Tick: -1})
	c.addWorker("chat2", &chat.Handler{Tick: -1})
	c.waitLinked(2)

	a, b, d := dial(t, g1.ws), dial(t, g2.ws), dial(t, g2.ws)
	a.send("alice: hello")
	for _, cl := range []*client{a, b, d} { // the sender included
		cl.expect("alice: hello")
	}
	// The type of a message is kept: binary stays binary.
	if err := b.conn.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2, 255}); err != nil {
		t.Fatal(err)
	}
	for _, cl := range []*client{a, b, d} {
		m := cl.next()
		if !m.binary || m.data != string([]byte{0, 1, 2, 255}) {
			t.Fatalf("got %+v, want binary 00 01 02 ff", m)
		}
	}
	// Messages from one client keep their order for every receiver.
	for i := 0; i < 50; i++ {
		d.send("n" + strconv.Itoa(i))
	}
	for _, cl := range []*client{a, b, d} {
		for i := 0; i < 50; i++ {
			cl.expect("n" + strconv.Itoa(i))
		}
	}
}

func TestE2ETimedPushOncePerTick(t *testing.T) {
	c := newCluster(t)
	g1 := c.addGateway("g1", nil)
	const tick = 200 * time.Millisecond
	c.addWorker("chat1", &chat.Handler{Tick: tick})
	c.addWorker("chat2", &chat.Handler{Tick: tick})
	c.waitLinked(2)
	cl := dial(t, g1.ws)
	first := cl.next()
	sec, err := strconv.ParseInt(first.data, 10, 64)
	if err != nil || first.binary {
		t.Fatalf("tick %+v is not decimal text: %v", first, err)
	}
	if d := time.Since(time.Unix(sec, 0)); d < -time.Second || d > 2*time.Second {
		t.Fatalf("tick %d is %v away from now", sec, d)
	}
	// Two workers run the timer, but only the leader sends: about one
	// tick per interval, not two.
	const window = 2 * time.Second
	n := 0
	deadline := time.After(window)
loop:
	for {
		select {
		case <-cl.in:
			n++
		case <-deadline:
			break loop
		}
	}
	if want := int(window / tick); n < want/3 || n > want*3/2 {
		t.Fatalf("%d ticks in %v with a %v tick, want about %d", n, window, tick, want)
	}
}

func TestE2ESendToClientUidGroup(t *testing.T) {
	c := twoByTwo(t)
	g1, g2 := c.gateways[0], c.gateways[1]
	a, b := dial(t, g1.ws), dial(t, g2.ws)
	phone, laptop := dial(t, g1.ws), dial(t, g2.ws) // two devices of one user
	idA, idB := a.request("id"), b.request("id")
	if len(idA) != 32 || len(idB) != 32 || idA == idB {
		t.Fatalf("client ids %q %q", idA, idB)
	}

	// SendToClient across gateways.
	if r := a.request("to " + idB + " psst"); r != "ok" {
		t.Fatalf("to: %s", r)
	}
	b.expect("psst")

	// SendToUID reaches every device of the uid.
	if phone.request("bind carol") != "ok" || laptop.request("bind carol") != "ok" {
		t.Fatal("bind failed")
	}
	if r := a.request("uid carol hi-carol"); r != "ok" {
		t.Fatalf("uid: %s", r)
	}
	phone.expect("hi-carol")
	laptop.expect("hi-carol")
	if got := laptop.request("uidof"); got != "carol" {
		t.Fatalf("uid seen by the handler = %q", got)
	}

	// SendToGroup, with the sender excluded, across gateways.
	for _, cl := range []*client{a, b, phone} {
		if r := cl.request("join room"); r != "ok" {
			t.Fatalf("join: %s", r)
		}
	}
	if r := a.request("groupx room to-room"); r != "ok" {
		t.Fatalf("groupx: %s", r)
	}
	b.expect("to-room")
	phone.expect("to-room")
	laptop.expectNothing(200 * time.Millisecond) // not a member
	a.expectNothing(0)                           // excluded

	// Leave, then the group no longer reaches the client.
	if r := b.request("leave room"); r != "ok" {
		t.Fatalf("leave: %s", r)
	}
	a.send("group room again") // a is a member: the message comes before the reply
	a.expect("again")
	a.expect("reply: ok")
	phone.expect("again")
	b.expectNothing(200 * time.Millisecond)

	// SendToAll with an exclude list spanning both gateways.
	if r := a.request("allx " + idA + "," + idB + " everyone"); r != "ok" {
		t.Fatalf("allx: %s", r)
	}
	phone.expect("everyone")
	laptop.expect("everyone")
	a.expectNothing(200 * time.Millisecond)
	b.expectNothing(0)

	// IsOnline, and a client that closes is offline.
	if r := a.request("online " + idB); r != "online" {
		t.Fatalf("online %s = %s", idB, r)
	}
	b.conn.Close()
	eventually(t, "client b offline", func() bool { r := a.request("online " + idB); t.Log(r); return r == "offline" })
}

func TestE2ESessionWriteBackNoRace(t *testing.T) {
	c := twoByTwo(t)
	a := dial(t, c.gateways[0].ws)
	// Sent back to back: the second event may have left the gateway before
	// the first handler's session write-back arrived there.
	for i := 0; i < 20; i++ {
		v := strconv.Itoa(i)
		a.send("set k " + v)
		a.send("get k")
		a.expect("reply: ok")
		a.expect("reply: " + v)
	}
}

func TestE2EWorkerStopsItsClientsMove(t *testing.T) {
	c := twoByTwo(t)
	var clients []*client
	owners := map[string]int{}
	for i := 0; i < 16; i++ {
		cl := dial(t, c.gateways[i%2].ws)
		clients = append(clients, cl)
		owners[cl.request("who")]++
	}
	if owners["w1"] == 0 || owners["w2"] == 0 {
		t.Fatalf("rendezvous hashing put every client on one worker: %v", owners)
	}
	// Each client's events keep going to the same worker.
	for _, cl := range clients {
		first := cl.request("who")
		if again := cl.request("who"); again != first {
			t.Fatalf("client moved from %s to %s with no change of workers", first, again)
		}
	}
	c.workers[0].proc.stop(t)
	c.waitLinked(1)
	for _, cl := range clients {
		if who := cl.request("who"); who != "w2" {
			t.Fatalf("after w1 stopped, events went to %q", who)
		}
	}
}

func TestE2EGatewayRestart(t *testing.T) {
	c := twoByTwo(t)
	old := dial(t, c.gateways[0].ws)
	oldID := old.request("id")
	stay := dial(t, c.gateways[1].ws)

	c.gateways[0].proc.stop(t)
	if code := old.closeCode(); code != websocket.CloseGoingAway {
		t.Fatalf("client of a stopped gateway closed with %d, want 1001", code)
	}
	c.gateways[0].proc = nil
	g3 := c.addGateway("g3", nil)
	c.waitLinked(2)

	fresh := dial(t, g3.ws)
	freshID := fresh.request("id")
	if freshID[:16] == oldID[:16] {
		t.Fatalf("restarted gateway reused node id %s", oldID[:16])
	}
	// The stale id reaches nobody: the send is refused, the new client gets nothing.
	if r := stay.request("to " + oldID + " ghost"); !strings.HasPrefix(r, "error") {
		t.Fatalf("send to a client of a gone gateway: %q, want an error", r)
	}
	fresh.expectNothing(200 * time.Millisecond)
	// The new gateway works for sends from other gateways' clients.
	if r := stay.request("to " + freshID + " welcome"); r != "ok" {
		t.Fatalf("to: %s", r)
	}
	fresh.expect("welcome")
}
