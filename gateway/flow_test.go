package gateway

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// TestLinkWindowPausesClient: a worker that does not ack gets at most the
// window; the client's further messages wait (its socket is not read) and
// none is lost: after the acks, every message arrives, in order.
func TestLinkWindowPausesClient(t *testing.T) {
	tg := startGateway(t, Config{LinkWindow: 4})
	w := dialLink(t, tg.lan, "", "w1", true)
	if got := w.welcome.GetWelcome().GetWindowEvents(); got != 4 {
		t.Fatalf("welcome window %d, want 4", got)
	}
	c := dialWS(t, tg.public, "/", nil)
	w.connectEvent()
	const n = 200
	pad := strings.Repeat("x", 200)
	go func() {
		for i := range n {
			if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "m%d:%s", i, pad)) != nil {
				return
			}
		}
	}()
	// 4 in flight and nothing more.
	var first []*pb.Event
	for range 4 {
		first = append(first, w.event())
	}
	w.noEvent(200 * time.Millisecond)
	eventually(t, "client paused", func() bool { return tg.Stats().ClientsPaused >= 1 })
	// What the gateway had read into its buffer (4 KiB: about 20 of these
	// messages) is queued; then reading stops: pending does not grow.
	l := tg.linkOf(t, "w1")
	inflight, pending := l.inHand()
	time.Sleep(200 * time.Millisecond)
	if _, again := l.inHand(); inflight != 4 || again != pending || pending > 4096/200+2 {
		t.Fatalf("link holds %d in flight, %d then %d pending; want 4 and at most a read buffer's worth that stops growing", inflight, pending, again)
	}
	check := func(i int, ev *pb.Event) {
		t.Helper()
		if got, want := string(ev.GetMessage().GetData()), fmt.Sprintf("m%d:%s", i, pad); got != want {
			t.Fatalf("event %d = %q, want %q", i, got, want)
		}
		w.ack2(ev.GetSeq())
	}
	for i, ev := range first {
		check(i, ev)
	}
	for i := len(first); i < n; i++ {
		check(i, w.event())
	}
	if st := tg.Stats(); st.EventsDropped != 0 {
		t.Fatalf("dropped %d events", st.EventsDropped)
	}
}

// TestLinkWindowOrderAfterPause checks the payloads, not just the count:
// every message of a paused client arrives once and in order.
func TestLinkWindowOrderAfterPause(t *testing.T) {
	tg := startGateway(t, Config{LinkWindow: 2, LinkWindowBytes: 1 << 10})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	w.ack(w.connectEvent().GetSeq())
	const n = 300
	payload := strings.Repeat("x", 200)
	go func() {
		for i := range n {
			if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d:%s", i, payload)) != nil {
				return
			}
		}
	}()
	for i := range n {
		ev := w.event()
		want := fmt.Sprintf("%d:", i)
		if !strings.HasPrefix(string(ev.GetMessage().GetData()), want) {
			t.Fatalf("event %d = %.10q, want prefix %q", i, ev.GetMessage().GetData(), want)
		}
		// A slow worker: acks each event a moment after it arrives.
		if i%50 == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		w.send(&pb.LinkRequest{Acks: []*pb.AckRange{{First: ev.GetSeq(), Last: ev.GetSeq()}}})
	}
	if tg.Stats().ClientsPaused == 0 {
		t.Fatal("a window of 2 never paused a client sending 300 messages")
	}
}

// TestStuckEventPinsOnlyItself: one event never acked does not stop the
// others (selective acks), where a cumulative ack would pin the window.
func TestStuckEventPinsOnlyItself(t *testing.T) {
	tg := startGateway(t, Config{LinkWindow: 8})
	w := dialLink(t, tg.lan, "", "w1", true)
	stuck := dialWS(t, tg.public, "/", nil)
	stuckConnect := w.connectEventHeld().GetSeq() // never acked
	others := make([]*websocket.Conn, 4)
	for i := range others {
		others[i] = dialWS(t, tg.public, "/", nil)
		w.ack2(w.connectEvent().GetSeq())
	}
	_ = stuck
	const per = 100
	for i, c := range others {
		go func() {
			for j := range per {
				if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d-%d", i, j)) != nil {
					return
				}
			}
		}()
	}
	for range len(others) * per {
		w.ack2(w.event().GetSeq())
	}
	l := tg.linkOf(t, "w1")
	eventually(t, "only the stuck event in flight", func() bool { n, _ := l.inHand(); return n == 1 })
	l.mu.Lock()
	_, ok := l.inflight[stuckConnect]
	l.mu.Unlock()
	if !ok {
		t.Fatalf("the event in flight is not the stuck one (seq %d)", stuckConnect)
	}
}

// ack2 acks one event with a selective range.
func (l *testLink) ack2(seq uint64) {
	l.send(&pb.LinkRequest{Acks: []*pb.AckRange{{First: seq, Last: seq}}})
}

// TestLinkBadAcksCloseTheLink: acks of seqs never sent (the 2^64-1 ack that
// used to panic the gateway), empty ranges and unknown commands end that
// link with InvalidArgument; the gateway and its other links live on, and
// the events in flight go to another worker.
func TestLinkBadAcksCloseTheLink(t *testing.T) {
	tg := startGateway(t, Config{})
	other := dialLink(t, tg.lan, "", "other", false)
	cases := map[string]*pb.LinkRequest{
		"huge cumulative ack": {Ack: math.MaxUint64},
		"huge range":          {Acks: []*pb.AckRange{{First: 1, Last: math.MaxUint64}}},
		"range past last":     {Acks: []*pb.AckRange{{First: 1000, Last: 1001}}},
		"empty range":         {Acks: []*pb.AckRange{{First: 2, Last: 1}}},
		"zero range":          {Acks: []*pb.AckRange{{First: 0, Last: 1}}},
		"second hello":        {Hello: &pb.Hello{LinkerId: "x"}},
		"unknown command":     {Commands: []*pb.Command{unknownCommand(t)}},
	}
	for name, req := range cases {
		t.Run(name, func(t *testing.T) {
			before := tg.Stats().LinkProtocolErrors
			w := dialLink(t, tg.lan, "", "w-"+name, true)
			c := dialWS(t, tg.public, "/", nil)
			w.connectEventHeld() // seq 1 in flight
			w.send(req)
			select {
			case err := <-w.recvErr:
				if status.Code(err) != codes.InvalidArgument {
					t.Fatalf("link ended with %v, want InvalidArgument", err)
				}
			case <-time.After(waitFor):
				t.Fatal("link not closed")
			}
			eventually(t, "counted", func() bool { return tg.Stats().LinkProtocolErrors == before+1 })
			// The gateway lives: another link still queries it, and the
			// client's connect went to a new worker.
			w2 := dialLink(t, tg.lan, "", "w2-"+name, true)
			if ev := w2.event(); ev.GetConnect() == nil || !ev.GetRedelivered() {
				t.Fatalf("event on the new worker = %v, want the redelivered connect", ev)
			}
			if res := other.query(&pb.Query{Kind: pb.Query_KIND_STATS}); res.GetStats().GetClients() == 0 {
				t.Fatal("gateway lost its client")
			}
			_ = c.Close()
			w2.close()
		})
	}
}

// unknownCommand is a Command carrying a field number no version knows.
func unknownCommand(t *testing.T) *pb.Command {
	cmd := &pb.Command{}
	// field 99, varint 1
	cmd.ProtoReflect().SetUnknown([]byte{0x98, 0x06, 0x01})
	return cmd
}

// TestNoWorkerHoldsEvents: with no worker linked, a client's events are
// held and its socket not read; a worker linking in time gets them all, in
// order.
func TestNoWorkerHoldsEvents(t *testing.T) {
	tg := startGateway(t, Config{NoWorkerTimeout: 5 * time.Second})
	c := dialWS(t, tg.public, "/", nil)
	for i := range 20 {
		if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "events held", func() bool { return tg.router.heldCount.Load() > 0 })
	time.Sleep(100 * time.Millisecond)
	w := dialLink(t, tg.lan, "", "w1", true)
	if ev := w.event(); ev.GetConnect() == nil {
		t.Fatalf("first event %v, want connect", ev)
	} else {
		w.ack2(ev.GetSeq())
	}
	for i := range 20 {
		ev := w.event()
		if got := string(ev.GetMessage().GetData()); got != fmt.Sprintf("m%d", i) {
			t.Fatalf("event %d = %q", i, got)
		}
		w.ack2(ev.GetSeq())
	}
	if st := tg.Stats(); st.EventsDropped != 0 || st.NoWorkerClosed != 0 {
		t.Fatalf("stats %+v", st)
	}
}

// TestNoWorkerTimeoutCloses1013: past NoWorkerTimeout the client is closed
// with 1013 and its held events are counted as dropped.
func TestNoWorkerTimeoutCloses1013(t *testing.T) {
	tg := startGateway(t, Config{NoWorkerTimeout: 300 * time.Millisecond})
	c := dialWS(t, tg.public, "/", nil)
	if err := c.WriteMessage(websocket.TextMessage, []byte("waits")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1013 {
		t.Fatalf("read: %v, want close 1013", err)
	}
	eventually(t, "counted", func() bool {
		st := tg.Stats()
		return st.NoWorkerClosed == 1 && st.EventsDropped >= 2
	})
	eventually(t, "nothing held", func() bool { return tg.router.heldCount.Load() == 0 })
}

// TestMessageTooBigForLink: a message that fits MaxMessageSize but not the
// link (with the client's session) closes the client with 1009 instead of
// being accepted and lost.
func TestMessageTooBigForLink(t *testing.T) {
	tg := startGateway(t, Config{MaxMessageSize: MaxLinkMessageSize})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	conn := w.connectEvent().GetConn()
	big := strings.Repeat("s", 5<<20)
	if r := w.call(&pb.Command{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{Conn: conn, Session: map[string]string{"k": big}}}}); r.GetError() != "" {
		t.Fatal(r.GetError())
	}
	if err := c.WriteMessage(websocket.BinaryMessage, make([]byte, MaxLinkMessageSize-1<<20)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1009 {
		t.Fatalf("read: %v, want close 1009", err)
	}
	// Counted just after the close frame is queued: it may reach the
	// client first.
	eventually(t, "counted", func() bool { return tg.Stats().TooBigForLink == 1 })
}

// TestMaxMessageSizeOverLinkRefused: New refuses a MaxMessageSize the
// links cannot carry.
func TestMaxMessageSizeOverLinkRefused(t *testing.T) {
	if _, err := New(Config{MaxMessageSize: MaxLinkMessageSize + 1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("New: %v, want ErrInvalidConfig", err)
	}
}

// TestLargeQueryReplyInParts: a client list larger than a batch comes in
// parts (More set) that together hold every client.
func TestLargeQueryReplyInParts(t *testing.T) {
	r := &pb.Reply{Id: 7, Result: &pb.QueryResult{Count: 3}}
	for i := range 50000 {
		r.Result.Clients = append(r.Result.Clients, &pb.ClientInfo{Conn: uint64(i), Uid: fmt.Sprintf("user-%d", i)})
	}
	r.Result.Groups = []*pb.GroupInfo{{Name: "big", Count: 300000, Conns: make([]uint64, 300000)}}
	parts := splitReply(r, maxBatchBytes)
	if len(parts) < 3 {
		t.Fatalf("%d parts", len(parts))
	}
	clients, conns := 0, 0
	for i, p := range parts {
		if p.GetMore() != (i < len(parts)-1) || p.GetId() != 7 {
			t.Fatalf("part %d: more %v id %d", i, p.GetMore(), p.GetId())
		}
		if sz := proto.Size(p); sz > maxBatchBytes+64 {
			t.Fatalf("part %d is %d bytes", i, sz)
		}
		clients += len(p.GetResult().GetClients())
		for _, g := range p.GetResult().GetGroups() {
			if g.GetName() != "big" {
				t.Fatalf("group %q", g.GetName())
			}
			conns += len(g.GetConns())
		}
	}
	if clients != 50000 || conns != 300000 || parts[len(parts)-1].GetResult().GetCount() != 3 {
		t.Fatalf("clients %d conns %d", clients, conns)
	}
}

// linkOf returns the gateway's link of linker id.
func (tg *testGateway) linkOf(t *testing.T, id string) *link {
	t.Helper()
	tg.router.mu.Lock()
	defer tg.router.mu.Unlock()
	for l := range tg.router.links {
		if l.id == id {
			return l
		}
	}
	t.Fatalf("no link %q", id)
	return nil
}

// TestClientWindowIsolatesStuckClient: a client whose events are never
// acked (its handler is stuck) and that keeps sending takes at most
// ClientWindow events of the link's window: the other clients' messages
// all get through, and the stuck one's are read again once acked.
func TestClientWindowIsolatesStuckClient(t *testing.T) {
	tg := startGateway(t, Config{LinkWindow: 16, ClientWindow: 4})
	w := dialLink(t, tg.lan, "", "w1", true)
	stuck := dialWS(t, tg.public, "/", nil)
	stuckConn := w.connectEvent().GetConn()
	var held []*pb.Event // the stuck client's events, not acked
	others := make([]*websocket.Conn, 3)
	for i := range others {
		others[i] = dialWS(t, tg.public, "/", nil)
		w.ack2(w.connectEvent().GetSeq())
	}
	const n = 100
	go func() {
		for i := range n {
			if stuck.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "s%d", i)) != nil {
				return
			}
		}
	}()
	for i, c := range others {
		go func() {
			for j := range n {
				if c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d-%d", i, j)) != nil {
					return
				}
			}
		}()
	}
	got := 0
	for got < len(others)*n {
		ev := w.event()
		if ev.GetConn() == stuckConn {
			held = append(held, ev)
			continue
		}
		got++
		w.ack2(ev.GetSeq())
	}
	// At most its window of 4 (plus what its read buffer held when it
	// paused) reached the worker.
	if len(held) > 4+n/2 || len(held) == n {
		t.Fatalf("%d events of the stuck client in flight", len(held))
	}
	l := tg.linkOf(t, "w1")
	eventually(t, "only the stuck client's events in flight", func() bool {
		fl, _ := l.inHand()
		return fl == len(held)
	})
	// Its handler returns: every one of its messages arrives, in order.
	next := 0
	check := func(ev *pb.Event) {
		t.Helper()
		if want := fmt.Sprintf("s%d", next); string(ev.GetMessage().GetData()) != want {
			t.Fatalf("stuck client's event %q, want %q", ev.GetMessage().GetData(), want)
		}
		next++
		w.ack2(ev.GetSeq())
	}
	for _, ev := range held {
		check(ev)
	}
	for next < n {
		check(w.event())
	}
}

// TestPausedClientHangUp: a paused client that closes its connection is
// noticed at once (the poller watches its hang-up while it is not read),
// and what it sent before is read and delivered.
func TestPausedClientHangUp(t *testing.T) {
	tg := startGateway(t, Config{LinkWindow: 2})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	w.connectEvent()
	const n = 50
	pad := strings.Repeat("x", 300)
	for i := range n {
		if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d:%s", i, pad)); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "client paused", func() bool { return tg.Stats().ClientsPaused >= 1 })
	_ = c.UnderlyingConn().Close() // gone, without a close frame
	eventually(t, "client gone", func() bool { return tg.Stats().Clients == 0 })
	w.ack2(1)
	for i := range n {
		ev := w.event()
		if !strings.HasPrefix(string(ev.GetMessage().GetData()), fmt.Sprintf("%d:", i)) {
			t.Fatalf("event %d: %.8q", i, ev.GetMessage().GetData())
		}
		w.ack2(ev.GetSeq())
	}
	if ev := w.event(); ev.GetClose().GetCode() != 1006 {
		t.Fatalf("last event %v, want close 1006", ev)
	}
}

// TestConnectGatesReading: a client is not read until its Connect is
// acked, and the commands a worker sends with (before) that ack are
// applied first: the client's first message already carries the uid and
// session the connect handler set, however fast the client sends it.
func TestConnectGatesReading(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	ev := w.connectEventHeld()
	if err := c.WriteMessage(websocket.TextMessage, []byte("first")); err != nil {
		t.Fatal(err)
	}
	w.noEvent(200 * time.Millisecond) // not read while the connect handler runs
	conn := ev.GetConn()
	w.send(&pb.LinkRequest{
		Commands: []*pb.Command{
			{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: conn, Uid: "alice"}}},
			{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: conn, Groups: []string{"room"}}}},
			{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{Conn: conn, Merge: true, Session: map[string]string{"nick": "al"}}}},
		},
		Acks: []*pb.AckRange{{First: ev.GetSeq(), Last: ev.GetSeq()}},
	})
	first := w.event()
	if string(first.GetMessage().GetData()) != "first" || first.GetUid() != "alice" || first.GetSession()["nick"] != "al" {
		t.Fatalf("first message event %v: want uid alice and the session set by the connect handler", first)
	}
	if res := w.query(&pb.Query{Kind: pb.Query_KIND_GROUPS, Groups: []string{"room"}, CountOnly: true}); res.GetCount() != 1 {
		t.Fatalf("group room: %v", res)
	}
}
