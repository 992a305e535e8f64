package linker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func sendsOf(cmds []*pb.Command) []uint64 {
	var out []uint64
	for _, c := range cmds {
		out = append(out, c.GetSend().GetConns()[0])
	}
	return out
}

// Commands older than maxAge are dropped, counted, at the head only (the
// rest keep their order), on push and on take; dropping makes room for a
// push waiting on a full queue.
func TestQueueExpiresOldCommands(t *testing.T) {
	var expired atomic.Uint64
	q := newCmdQueue(1000, time.Minute, &expired)
	now := time.Unix(1000, 0)
	q.now, q.epoch = func() time.Time { return now }, now
	up := func() bool { return true }
	item := func(i int) queued { it, _ := sized(sendCmd(i, 100)); return it }
	ctx := context.Background()

	for i := 1; i <= 3; i++ {
		if err := q.push(ctx, up, item(i)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(20 * time.Second)
	}
	// Now 60 s after the first: it is exactly maxAge old and stays.
	if got := sendsOf(q.take(nil, 1, 1<<20)); len(got) != 1 || got[0] != 1 {
		t.Fatalf("take at maxAge: %v", got)
	}
	now = now.Add(45 * time.Second) // 2 is 85 s old, 3 is 65 s old
	if err := q.push(ctx, up, item(4)); err != nil {
		t.Fatal(err)
	}
	if got := sendsOf(q.take(nil, 10, 1<<20)); len(got) != 1 || got[0] != 4 {
		t.Fatalf("after expiry: %v, want [4]", got)
	}
	if expired.Load() != 2 || q.bytes != 0 {
		t.Fatalf("expired %d, bytes %d", expired.Load(), q.bytes)
	}

	// A push waiting for room on a full queue gets it once the old
	// commands expire (here: on take, as the link comes back).
	for i := 10; i < 18; i++ {
		if err := q.push(ctx, up, item(i)); err != nil {
			t.Fatal(err)
		}
	}
	done := make(chan error, 1)
	go func() { done <- q.push(ctx, up, item(99)) }()
	select {
	case err := <-done:
		t.Fatalf("push into a full queue returned at once: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	q.mu.Lock() // the waiting push reads the clock under q.mu
	now = now.Add(2 * time.Minute)
	q.mu.Unlock()
	if got := q.take(nil, 10, 1<<20); len(got) != 0 {
		t.Fatalf("take of expired commands: %v", sendsOf(got))
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := sendsOf(q.take(nil, 10, 1<<20)); len(got) != 1 || got[0] != 99 || expired.Load() != 10 {
		t.Fatalf("after the wait: %v, expired %d", got, expired.Load())
	}
}

// Over a real link: a command queued while the link is down and older than
// MaxQueueAge when the link comes back is not replayed (and is counted);
// commands queued after it are sent.
func TestLinkDoesNotReplayExpiredCommands(t *testing.T) {
	g := linkertest.NewGateway(t, 0x7801)
	// The reconnect waits MinBackoff: room for the command to expire.
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, MaxQueueAge: 300 * time.Millisecond,
		MinBackoff: 2 * time.Second, MaxBackoff: 2 * time.Second})
	node := g.Info.NodeId
	ctx := context.Background()
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(node) })
	g.Break()
	linkertest.WaitFor(t, "link down", testWait, func() bool { return !l.Linked(node) })
	if err := l.Enqueue(ctx, node, sendCmd(1, 10)); err != nil {
		t.Fatalf("enqueue for a listed gateway whose link is down: %v", err)
	}
	linkertest.WaitFor(t, "relink", 2*testWait, func() bool { return l.Linked(node) })
	if err := l.Enqueue(ctx, node, sendCmd(2, 10)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, cmds, _, _ := g.Snapshot()
	var sends []uint64
	for _, c := range cmds {
		if c.GetSend() != nil {
			sends = append(sends, c.GetSend().GetConns()[0])
		}
	}
	if len(sends) != 1 || sends[0] != 2 || l.ExpiredCommands() != 1 {
		t.Fatalf("sends received by the gateway: %v, want only [2]; ExpiredCommands = %d, want 1", sends, l.ExpiredCommands())
	}
}

// With HoldEvents a worker's links say Hello without events until
// OpenEvents; commands work meanwhile, and OpenEvents relinks as a worker,
// sending what was queued first, and returns once the link is up again.
func TestHoldEventsUntilOpen(t *testing.T) {
	g := linkertest.NewGateway(t, 0x7802)
	var handled atomic.Int64
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, Events: true, HoldEvents: true,
		Handler: func(context.Context, Event) { handled.Add(1) }, MinBackoff: time.Hour, MaxBackoff: time.Hour})
	node := g.Info.NodeId
	ctx := context.Background()
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(node) })
	if err := l.Enqueue(ctx, node, sendCmd(1, 10)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("flush before OpenEvents: %v", err)
	}
	if err := l.Enqueue(ctx, node, sendCmd(2, 10)); err != nil {
		t.Fatal(err)
	}
	// The relink does not wait for the hour of backoff.
	l.OpenEvents()
	if !l.Linked(node) {
		t.Fatal("OpenEvents returned before the link was up again")
	}
	l.OpenEvents() // idempotent
	g.Mu.Lock()
	hellos := append([]*pb.Hello(nil), g.Hellos...)
	g.Mu.Unlock()
	if len(hellos) != 2 || hellos[0].GetEvents() || !hellos[1].GetEvents() {
		t.Fatalf("hellos %v: want one without events, then one with", hellos)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	_, cmds, _, _ := g.Snapshot()
	var sends []uint64
	for _, c := range cmds {
		if c.GetSend() != nil {
			sends = append(sends, c.GetSend().GetConns()[0])
		}
	}
	if len(sends) != 2 || sends[0] != 1 || sends[1] != 2 {
		t.Fatalf("sends %v, want [1 2]", sends)
	}
	g.Push(&pb.LinkResponse{Events: []*pb.Event{{Seq: 1, Conn: 5, Kind: &pb.Event_Message{Message: &pb.Message{}}}}})
	linkertest.WaitFor(t, "event handled", testWait, func() bool { return handled.Load() == 1 })
}
