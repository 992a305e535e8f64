package e2e

import (
	"fmt"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// A rolling restart of every worker (each stopped gracefully and replaced)
// while clients on two gateways chat without pause loses no message.
func TestHARollingRestart(t *testing.T) {
	c := newCluster(t)
	g1, g2 := c.addGateway("g1", nil), c.addGateway("g2", nil)
	const handleTime = time.Millisecond
	w1 := c.addWorker("w1", &echoHandler{name: "w1", delay: handleTime})
	w2 := c.addWorker("w2", &echoHandler{name: "w2", delay: handleTime})
	c.waitLinked(2)

	// Which worker a client hashes to is random (random client ids): 24
	// clients make "every client on one of two workers" a 2^-23 chance.
	var clients []*echoClient
	for i := range 24 {
		g := []*gw{g1, g2}[i%2]
		clients = append(clients, newEchoClient(t, g.ws, fmt.Sprintf("c%d", i)))
	}
	chat := startChatter(clients, 25*time.Millisecond)
	defer chat.halt()

	handled := func(name string) int {
		n := 0
		for _, cl := range clients {
			n += cl.workers()[name]
		}
		return n
	}
	began := time.Now()
	for i, old := range []*wk{w1, w2} {
		name := fmt.Sprintf("w%d", i+3)
		eventually(t, old.name+" handling", func() bool { return handled(old.name) > 100 })
		stopAt := time.Now()
		old.proc.stop(t) // graceful: finish the events in hand, unlink
		t.Logf("%s drained and stopped in %v", old.name, time.Since(stopAt).Round(time.Millisecond))
		c.addWorker(name, &echoHandler{name: name, delay: handleTime})
		c.waitLinked(2)
		eventually(t, name+" handling", func() bool { return handled(name) > 100 })
	}
	chat.halt()
	if chat.errs.Load() != 0 {
		t.Fatalf("%d clients failed to send", chat.errs.Load())
	}
	sent, dups := waitAllEchoed(t, clients, waitFor)
	t.Logf("rolling restart of 2 workers in %v: %d messages, 0 lost, %d duplicates", time.Since(began).Round(time.Millisecond), sent, dups)
}

// A gateway stopped gracefully leaves the registers at once (not after its
// lease TTL) and closes its clients with 1001.
func TestHAGatewayDrainLeavesRegister(t *testing.T) {
	r := startRegister(t, "r1", "127.0.0.1:0")
	c := &cluster{t: t, secret: helperSecret}
	g := c.haGateway("g1", []string{r.addr}, nil)
	eventually(t, "gateway announced", func() bool { return len(r.Gateways()) == 1 })
	cl := dial(t, g.ws)
	stopped := time.Now()
	g.proc.stop(t)
	if code := cl.closeCode(); code != websocket.CloseGoingAway {
		t.Fatalf("close code %d, want 1001", code)
	}
	eventually(t, "gateway gone from the register", func() bool { return len(r.Gateways()) == 0 })
	if d := time.Since(stopped); d > 5*time.Second {
		t.Fatalf("gateway left the register after %v: that is the lease TTL, not a leave", d)
	}
}
