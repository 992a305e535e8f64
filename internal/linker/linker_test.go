package linker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

const testWait = 5 * time.Second

func sendCmd(i int, size int) *pb.Command {
	data := make([]byte, size)
	copy(data, fmt.Sprint(i))
	return &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{uint64(i)}, Data: data}}}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrConfig) {
		t.Fatalf("no registers: %v", err)
	}
	if _, err := New(Config{Registers: []string{"127.0.0.1:1"}, Events: true}); !errors.Is(err, ErrConfig) {
		t.Fatalf("events without handler: %v", err)
	}
	if _, err := New(Config{Registers: []string{"127.0.0.1:1"}, AckDelay: -1}); !errors.Is(err, ErrConfig) {
		t.Fatalf("negative: %v", err)
	}
}

func TestBatchingByCount(t *testing.T) {
	g := linkertest.NewGateway(t, 0x1111)
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run})
	ctx := context.Background()
	const n = 3000
	cmds := make([]*pb.Command, n)
	for i := range cmds {
		cmds[i] = sendCmd(i, 8)
	}
	if err := l.Enqueue(ctx, g.Info.NodeId, cmds...); err != nil {
		t.Fatal(err)
	}
	linkertest.WaitFor(t, "all commands", testWait, func() bool { _, c, _, _ := g.Snapshot(); return len(c) == n })
	_, got, batches, _ := g.Snapshot()
	for i, c := range got {
		if c.GetSend().GetConns()[0] != uint64(i) {
			t.Fatalf("command %d out of order: %v", i, c.GetSend().GetConns())
		}
	}
	maxLen := 0
	for _, b := range batches {
		maxLen = max(maxLen, len(b.GetCommands()))
	}
	if maxLen != DefaultMaxBatchCommands {
		t.Fatalf("largest batch %d commands, want %d (batches: %d)", maxLen, DefaultMaxBatchCommands, len(batches))
	}
}

func TestBatchingByBytes(t *testing.T) {
	g := linkertest.NewGateway(t, 0x2222)
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run})
	const n, size = 10, 300 << 10
	cmds := make([]*pb.Command, n)
	for i := range cmds {
		cmds[i] = sendCmd(i, size)
	}
	if err := l.Enqueue(context.Background(), g.Info.NodeId, cmds...); err != nil {
		t.Fatal(err)
	}
	linkertest.WaitFor(t, "all commands", testWait, func() bool { _, c, _, _ := g.Snapshot(); return len(c) == n })
	_, _, batches, _ := g.Snapshot()
	multi := false
	for _, b := range batches {
		if k := len(b.GetCommands()); k > DefaultMaxBatchBytes/size {
			t.Fatalf("batch of %d commands of %d bytes exceeds %d", k, size, DefaultMaxBatchBytes)
		} else if k > 1 {
			multi = true
		}
	}
	if !multi {
		t.Fatalf("no batch carried more than one command (%d batches)", len(batches))
	}
	big := sendCmd(0, maxCommandBytes+1)
	if err := l.Enqueue(context.Background(), g.Info.NodeId, big); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("oversized command: %v", err)
	}
}

// TestSelectiveAcksAndIsolation: three clients' events, handlers released
// in the order 3, 1, 2: each event is acked as soon as its own handler
// returns (selective acks), and a blocked client holds up no other client.
func TestSelectiveAcksAndIsolation(t *testing.T) {
	g := linkertest.NewGateway(t, 0x3333)
	release := map[uint64]chan struct{}{1: make(chan struct{}), 2: make(chan struct{}), 3: make(chan struct{})}
	handled := make(chan uint64, 3)
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, Events: true, AckDelay: time.Millisecond,
		Handler: func(ctx context.Context, ev Event) {
			<-release[ev.Ev.GetConn()]
			handled <- ev.Ev.GetSeq()
		}})
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(g.Info.NodeId) })
	var evs []*pb.Event
	for c := uint64(1); c <= 3; c++ {
		evs = append(evs, &pb.Event{Seq: c, Conn: c, Kind: &pb.Event_Message{Message: &pb.Message{Data: []byte("x")}}})
	}
	g.Push(&pb.LinkResponse{Events: evs})

	acked := func() []uint64 { _, _, _, a := g.Snapshot(); return a }
	close(release[3]) // seq 3 first: acked alone, 1 and 2 still in hand
	if s := <-handled; s != 3 {
		t.Fatalf("handled %d, want 3", s)
	}
	linkertest.WaitFor(t, "ack of 3", testWait, func() bool { return len(acked()) > 0 })
	if a := acked(); !slices.Equal(a, []uint64{3}) {
		t.Fatalf("acks %v, want [3]", a)
	}
	close(release[1])
	<-handled
	linkertest.WaitFor(t, "ack of 1", testWait, func() bool { return len(acked()) == 2 })
	close(release[2])
	<-handled
	linkertest.WaitFor(t, "every ack", testWait, func() bool { return g.AckedAll(3) })
	if a := acked(); !slices.Equal(a, []uint64{3, 1, 2}) {
		t.Fatalf("acks %v, want [3 1 2]", a)
	}
}

// TestStuckHandlerHoldsOnlyItsClient: one client's handler blocks; 50
// other clients' 1,000 events are all handled and acked meanwhile, and the
// watchdog reports the stuck one once.
func TestStuckHandlerHoldsOnlyItsClient(t *testing.T) {
	g := linkertest.NewGateway(t, 0x3334)
	unblock := make(chan struct{})
	var slow atomic.Int32
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, Events: true,
		SlowHandler: 50 * time.Millisecond,
		OnSlowHandler: func(node, conn uint64, kind string, running time.Duration) {
			if node != 0x3334 || conn != 1 || kind != "message" || running < 50*time.Millisecond {
				t.Errorf("slow handler report %x/%d %s %v", node, conn, kind, running)
			}
			slow.Add(1)
		},
		Handler: func(ctx context.Context, ev Event) {
			if ev.Ev.GetConn() == 1 {
				select {
				case <-unblock:
				case <-ctx.Done():
				}
			}
		}})
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(g.Info.NodeId) })
	const n = 1000
	evs := []*pb.Event{{Seq: 1, Conn: 1, Kind: &pb.Event_Message{Message: &pb.Message{}}}}
	for i := range n {
		evs = append(evs, &pb.Event{Seq: uint64(i + 2), Conn: uint64(i%50 + 2), Kind: &pb.Event_Message{Message: &pb.Message{}}})
	}
	g.Push(&pb.LinkResponse{Events: evs})
	linkertest.WaitFor(t, "the others acked", testWait, func() bool {
		_, _, _, a := g.Snapshot()
		return len(a) == n
	})
	if slices.Contains(func() []uint64 { _, _, _, a := g.Snapshot(); return a }(), 1) {
		t.Fatal("the stuck event was acked")
	}
	linkertest.WaitFor(t, "watchdog", testWait, func() bool { return slow.Load() == 1 })
	time.Sleep(150 * time.Millisecond)
	if slow.Load() != 1 || l.SlowHandlers() != 1 {
		t.Fatalf("slow handler reported %d times (counted %d), want once", slow.Load(), l.SlowHandlers())
	}
	close(unblock)
	linkertest.WaitFor(t, "the stuck one acked", testWait, func() bool { return g.AckedAll(n + 1) })
}

func TestEventsInOrderPerClient(t *testing.T) {
	g := linkertest.NewGateway(t, 0x4444)
	var mu sync.Mutex
	got := map[uint64][]uint64{}
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, Events: true,
		Handler: func(ctx context.Context, ev Event) {
			mu.Lock()
			got[ev.Ev.GetConn()] = append(got[ev.Ev.GetConn()], ev.Ev.GetSeq())
			mu.Unlock()
		}})
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(g.Info.NodeId) })
	const n = 400
	var evs []*pb.Event
	for i := range n {
		evs = append(evs, &pb.Event{Seq: uint64(i + 1), Conn: uint64(i%7 + 1)})
		if len(evs) == 50 {
			g.Push(&pb.LinkResponse{Events: evs})
			evs = nil
		}
	}
	linkertest.WaitFor(t, "ack of every event", testWait, func() bool { return g.AckedAll(n) })
	mu.Lock()
	defer mu.Unlock()
	total := 0
	for conn, seqs := range got {
		total += len(seqs)
		if !slices.IsSorted(seqs) {
			t.Fatalf("conn %d: events out of order: %v", conn, seqs)
		}
	}
	if total != n {
		t.Fatalf("handled %d events, want %d", total, n)
	}
}

func TestQueryMergeAndStalledGateway(t *testing.T) {
	g1 := linkertest.NewGateway(t, 0x5555)
	g2 := linkertest.NewGateway(t, 0x6666)
	g1.Answer = func(c *pb.Command) *pb.Reply {
		return &pb.Reply{Result: &pb.QueryResult{Count: 2, Clients: []*pb.ClientInfo{{Conn: 7, Uid: "u"}, {Conn: 8}}}}
	}
	g2.Answer = func(c *pb.Command) *pb.Reply {
		return &pb.Reply{Result: &pb.QueryResult{Count: 1, Clients: []*pb.ClientInfo{{Conn: 9}}}}
	}
	l := startLinker(t, Config{Source: linkertest.NewSource(g1, g2).Run})
	linkertest.WaitFor(t, "links", testWait, func() bool { return l.Linked(g1.Info.NodeId) && l.Linked(g2.Info.NodeId) })
	q := func(uint64) *pb.Query { return &pb.Query{Kind: pb.Query_KIND_CLIENTS} }

	res, err := l.Query(context.Background(), nil, q)
	if err != nil {
		t.Fatal(err)
	}
	if res.Count != 3 || len(res.Clients) != 3 || res.Clients[2].ID != (clientid.ID{Node: 0x6666, Conn: 9}) {
		t.Fatalf("merged result: count %d clients %v", res.Count, res.Clients)
	}

	g2.Mu.Lock()
	g2.Stall = true
	g2.Mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	res, err = l.Query(ctx, nil, q)
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("query took %v with a 200ms deadline", took)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), clientid.FormatNode(0x6666)) {
		t.Fatalf("error %v: want a deadline error naming gateway 6666", err)
	}
	if strings.Contains(err.Error(), clientid.FormatNode(0x5555)) {
		t.Fatalf("error names the gateway that answered: %v", err)
	}
	if res.Count != 2 || len(res.Clients) != 2 || res.Clients[0].ID.Node != 0x5555 {
		t.Fatalf("partial result: count %d clients %v", res.Count, res.Clients)
	}
}

func TestReconnectAndLinkDown(t *testing.T) {
	g := linkertest.NewGateway(t, 0x7777)
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, Name: "w1"})
	node := g.Info.NodeId
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(node) })
	if err := l.Enqueue(context.Background(), node, sendCmd(1, 1)); err != nil {
		t.Fatal(err)
	}
	linkertest.WaitFor(t, "first command", testWait, func() bool { _, c, _, _ := g.Snapshot(); return len(c) == 1 })

	g.Mu.Lock()
	g.Stall = true // the first flush stays unanswered until the stream breaks
	g.Mu.Unlock()
	errc := make(chan error, 1)
	go func() { errc <- l.Flush(context.Background()) }()
	linkertest.WaitFor(t, "flush sent", testWait, func() bool { _, c, _, _ := g.Snapshot(); return len(c) == 2 })
	g.Break()
	if err := <-errc; !errors.Is(err, ErrLinkDown) {
		t.Fatalf("flush across a broken link: %v", err)
	}
	g.Mu.Lock()
	g.Stall = false
	g.Mu.Unlock()

	linkertest.WaitFor(t, "reconnect", testWait, func() bool { h, _, _, _ := g.Snapshot(); return h == 2 && l.Linked(node) })
	if err := l.Enqueue(context.Background(), node, sendCmd(2, 1)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, cmds, _, _ := g.Snapshot()
	if c := cmds[len(cmds)-2]; c.GetSend().GetConns()[0] != 2 {
		t.Fatalf("command after reconnect: %v", c)
	}
	g.Mu.Lock()
	hello := g.Hellos[1]
	g.Mu.Unlock()
	if hello.GetLinkerId() != l.ID() || hello.GetName() != "w1" || hello.GetEvents() {
		t.Fatalf("hello %v", hello)
	}
}

func TestRoutingAndGatewayLeaving(t *testing.T) {
	g := linkertest.NewGateway(t, 0x8888)
	src := linkertest.NewSource(g)
	l := startLinker(t, Config{Source: src.Run})
	ctx := context.Background()
	if err := l.Enqueue(ctx, 0x9999, sendCmd(1, 1)); !errors.Is(err, ErrNotLinked) || !strings.Contains(err.Error(), clientid.FormatNode(0x9999)) {
		t.Fatalf("unknown gateway: %v", err)
	}
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(g.Info.NodeId) })
	src.Set() // the gateway leaves the set
	linkertest.WaitFor(t, "unlink", testWait, func() bool {
		g.Mu.Lock()
		defer g.Mu.Unlock()
		return g.Ended
	})
	if err := l.Enqueue(ctx, g.Info.NodeId, sendCmd(1, 1)); !errors.Is(err, ErrNotLinked) {
		t.Fatalf("gateway gone: %v", err)
	}
	if err := l.Flush(ctx); err != nil {
		t.Fatalf("flush with no gateway: %v", err)
	}
}

func TestWorkersAndLeader(t *testing.T) {
	g1 := linkertest.NewGateway(t, 0xaaaa)
	g2 := linkertest.NewGateway(t, 0xbbbb)
	g1.Workers = []string{"ffff"}
	l := startLinker(t, Config{Source: linkertest.NewSource(g1, g2).Run, Events: true, Handler: func(context.Context, Event) {}})
	linkertest.WaitFor(t, "links", testWait, func() bool { return l.Linked(g1.Info.NodeId) && l.Linked(g2.Info.NodeId) })
	if w := l.Workers(); !slices.Equal(w, []string{"ffff"}) {
		t.Fatalf("workers %v", w)
	}
	g2.Push(&pb.LinkResponse{Workers: []string{l.ID(), "ffff"}, WorkersChanged: true})
	linkertest.WaitFor(t, "leader", testWait, l.IsLeader)
	g2.Push(&pb.LinkResponse{Workers: []string{"0000", l.ID()}, WorkersChanged: true})
	linkertest.WaitFor(t, "not leader", testWait, func() bool { return !l.IsLeader() })
	if w := l.Workers(); !slices.Equal(w, []string{"0000", l.ID(), "ffff"}) {
		t.Fatalf("workers %v", w)
	}
}

func TestDrainStopsEvents(t *testing.T) {
	g := linkertest.NewGateway(t, 0xcccc)
	block := make(chan struct{})
	var mu sync.Mutex
	var seen []uint64
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, Events: true, Handler: func(ctx context.Context, ev Event) {
		mu.Lock()
		seen = append(seen, ev.Ev.GetSeq())
		mu.Unlock()
		select {
		case <-block:
		case <-ctx.Done():
		}
	}})
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(g.Info.NodeId) })
	g.Push(&pb.LinkResponse{Events: []*pb.Event{{Seq: 1, Conn: 1}}})
	linkertest.WaitFor(t, "event 1", testWait, func() bool { mu.Lock(); defer mu.Unlock(); return len(seen) == 1 })

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if err := l.Drain(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("drain with a blocked handler: %v", err)
	}
	g.Push(&pb.LinkResponse{Events: []*pb.Event{{Seq: 2, Conn: 2}}})
	if err := l.Flush(context.Background()); err != nil { // the event came before the flush reply
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(seen) != 1 {
		t.Fatalf("events handled after Drain: %v", seen)
	}
}

func TestGoodbyeSendsQueuedCommands(t *testing.T) {
	g := linkertest.NewGateway(t, 0xdddd)
	l, err := New(Config{Source: linkertest.NewSource(g).Run})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(g.Info.NodeId) })
	if err := l.Enqueue(context.Background(), g.Info.NodeId, sendCmd(1, 1), sendCmd(2, 1)); err != nil {
		t.Fatal(err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	_, cmds, _, _ := g.Snapshot()
	if len(cmds) != 2 {
		t.Fatalf("gateway got %d commands, want 2", len(cmds))
	}
	if err := l.Enqueue(context.Background(), g.Info.NodeId, sendCmd(3, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("enqueue after Run: %v", err)
	}
	if err := l.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}

// startLinker runs a Linker over src until the test ends.
func startLinker(t *testing.T, cfg Config) *Linker {
	t.Helper()
	if cfg.MinBackoff == 0 {
		cfg.MinBackoff, cfg.MaxBackoff = 10*time.Millisecond, 50*time.Millisecond
	}
	l, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- l.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	return l
}

// TestReplyInParts: the parts of a large reply (More set) are joined,
// entries of one group split over parts included, before the waiter gets
// the reply.
func TestReplyInParts(t *testing.T) {
	l, err := New(Config{Source: func(ctx context.Context, _ func([]*pb.GatewayInfo)) error { <-ctx.Done(); return nil }})
	if err != nil {
		t.Fatal(err)
	}
	k := newLink(l, &pb.GatewayInfo{NodeId: 9})
	k.setUp()
	ch, err := k.expect(context.Background(), 5)
	if err != nil {
		t.Fatal(err)
	}
	parts := []*pb.Reply{
		{Id: 5, More: true, Result: &pb.QueryResult{Clients: []*pb.ClientInfo{{Conn: 1}}, Groups: []*pb.GroupInfo{{Name: "a", Conns: []uint64{1, 2}}}}},
		{Id: 5, More: true, Result: &pb.QueryResult{Groups: []*pb.GroupInfo{{Name: "a", Conns: []uint64{3}}, {Name: "b", Conns: []uint64{4}}}}},
		{Id: 5, Result: &pb.QueryResult{Clients: []*pb.ClientInfo{{Conn: 2}}, Count: 2}},
	}
	for i, p := range parts {
		if err := k.handle(&pb.LinkResponse{Replies: []*pb.Reply{p}}, &acker{}); err != nil {
			t.Fatal(err)
		}
		if i < len(parts)-1 && len(ch) != 0 {
			t.Fatalf("waiter answered after part %d", i)
		}
	}
	r := (<-ch).reply
	res := r.GetResult()
	if r.GetMore() || len(res.GetClients()) != 2 || res.GetCount() != 2 || len(res.GetGroups()) != 2 ||
		!slices.Equal(res.GetGroups()[0].GetConns(), []uint64{1, 2, 3}) {
		t.Fatalf("joined reply %v", r)
	}
}

// TestEventsOfBrokenLinkNotStarted: events queued behind a running handler
// when the link breaks are not run (the gateway hands them to another
// worker); the one running finishes but is not acked.
func TestEventsOfBrokenLinkNotStarted(t *testing.T) {
	g := linkertest.NewGateway(t, 0x3335)
	release := make(chan struct{})
	var ran []uint64
	var mu sync.Mutex
	started := make(chan struct{}, 1)
	l := startLinker(t, Config{Source: linkertest.NewSource(g).Run, Events: true,
		Handler: func(ctx context.Context, ev Event) {
			mu.Lock()
			ran = append(ran, ev.Ev.GetSeq())
			mu.Unlock()
			if ev.Ev.GetSeq() == 1 {
				started <- struct{}{}
				<-release
			}
		}})
	linkertest.WaitFor(t, "link", testWait, func() bool { return l.Linked(g.Info.NodeId) })
	var evs []*pb.Event
	for s := uint64(1); s <= 3; s++ {
		evs = append(evs, &pb.Event{Seq: s, Conn: 7, Kind: &pb.Event_Message{Message: &pb.Message{}}})
	}
	g.Push(&pb.LinkResponse{Events: evs})
	<-started
	g.Break()
	// A second Hello: the first session has ended (and was detached).
	linkertest.WaitFor(t, "relinked", testWait, func() bool { h, _, _, _ := g.Snapshot(); return h == 2 })
	close(release)
	time.Sleep(50 * time.Millisecond) // events 2 and 3 would have run by now
	mu.Lock()
	defer mu.Unlock()
	if !slices.Equal(ran, []uint64{1}) {
		t.Fatalf("ran %v, want only [1]: events of a broken link must not start", ran)
	}
	if _, _, _, acks := g.Snapshot(); len(acks) != 0 {
		t.Fatalf("acks %v after the link broke", acks)
	}
}
