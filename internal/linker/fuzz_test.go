package linker

import (
	"cmp"
	"context"
	"maps"
	"slices"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// fuzzNode is the node id of the gateway of FuzzLinkResponse's link.
const fuzzNode = 0x1234

// FuzzLinkResponse feeds two received LinkResponses (arbitrary bytes) to the
// handling of a link session (link.handle: workers set, replies, events),
// then completes the dispatched events in an order chosen by the input, as
// the dispatch shards would. mode picks the linker kind: a worker, a worker
// that stopped taking events (Drain), or a push client (no events).
func FuzzLinkResponse(f *testing.F) {
	enc := func(r *pb.LinkResponse) []byte {
		b, err := proto.Marshal(r)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	ev := func(seq, conn uint64) *pb.Event {
		return &pb.Event{Seq: seq, Conn: conn, Kind: &pb.Event_Message{Message: &pb.Message{Data: []byte("x")}}}
	}
	welcome := enc(&pb.LinkResponse{
		Welcome:        &pb.Welcome{Gateway: &pb.GatewayInfo{NodeId: fuzzNode}},
		Workers:        []string{"b", "a", "c"},
		WorkersChanged: true,
	})
	f.Add(welcome, enc(&pb.LinkResponse{Events: []*pb.Event{ev(1, 1), ev(2, 2), ev(3, 1)}}), []byte{2, 0, 1}, byte(0))
	f.Add(enc(&pb.LinkResponse{Events: []*pb.Event{ev(1, 7), ev(5, 7)}}), enc(&pb.LinkResponse{Events: []*pb.Event{ev(5, 7), ev(4, 7), ev(9, 8)}}), []byte{1, 1, 0}, byte(0))
	f.Add(enc(&pb.LinkResponse{Events: []*pb.Event{ev(3, 1), ev(1<<62, 2)}}), enc(&pb.LinkResponse{Events: []*pb.Event{ev(^uint64(0), 3)}}), []byte{}, byte(0))
	f.Add(enc(&pb.LinkResponse{Events: []*pb.Event{ev(1, 1), ev(0, 1)}}), []byte{}, []byte{0}, byte(1))
	f.Add(enc(&pb.LinkResponse{Replies: []*pb.Reply{{Id: 1}, {Id: 1, Error: "dup"}, {Id: 99}}}), enc(&pb.LinkResponse{Replies: []*pb.Reply{{Id: 2, Result: &pb.QueryResult{Count: 3}}}}), []byte{}, byte(2))
	f.Add(enc(&pb.LinkResponse{WorkersChanged: true}), enc(&pb.LinkResponse{Workers: []string{"z", "z", ""}, WorkersChanged: true, Events: []*pb.Event{ev(2, 0)}}), []byte{3}, byte(2))
	f.Add([]byte{0xff, 0x01}, []byte("\x12\x00"), []byte{}, byte(0))

	f.Fuzz(func(t *testing.T, first, second, order []byte, mode byte) {
		var msgs []*pb.LinkResponse
		for _, b := range [][]byte{first, second} {
			r := &pb.LinkResponse{}
			if proto.Unmarshal(b, r) == nil {
				msgs = append(msgs, r)
			}
		}
		worker := mode%3 != 2
		l, err := New(Config{
			Source:      func(ctx context.Context, _ func([]*pb.GatewayInfo)) error { <-ctx.Done(); return nil },
			Events:      worker,
			Handler:     func(context.Context, Event) {},
			Concurrency: 4,
		})
		if err != nil {
			t.Fatal(err)
		}
		l.eventsStopped.Store(mode%3 == 1)
		k := newLink(l, &pb.GatewayInfo{NodeId: fuzzNode})
		k.setUp()
		// Callers wait for replies to ids 1..3.
		waiters := map[uint64]chan replyResult{}
		for id := uint64(1); id <= 3; id++ {
			ch, err := k.expect(t.Context(), id)
			if err != nil {
				t.Fatal(err)
			}
			waiters[id] = ch
		}

		ack := &acker{}
		var (
			maxSeq   uint64              // highest seq seen so far
			fresh    = map[uint64]bool{} // seqs handle accepted
			replied  = map[uint64]bool{}
			dispatch []task
		)
		for _, r := range msgs {
			herr := k.handle(r, ack)
			wantErr := false
			for _, e := range r.GetEvents() {
				if e.GetSeq() == 0 {
					wantErr = true
					break
				}
				if e.GetSeq() > maxSeq {
					maxSeq = e.GetSeq()
					fresh[e.GetSeq()] = true
				}
			}
			if (herr != nil) != wantErr {
				t.Fatalf("handle error %v, want error %v", herr, wantErr)
			}
			for _, rp := range r.GetReplies() {
				replied[rp.GetId()] = true
			}
			if r.GetWorkersChanged() {
				want := slices.Sorted(slices.Values(r.GetWorkers()))
				if got := k.workerSet(); !slices.Equal(got, want) {
					t.Fatalf("workers %q, want %q", got, want)
				}
			}
			if worker {
				dispatch = append(dispatch, drainShards(t, l.disp)...)
			}
			if herr != nil {
				break // the session ends
			}
			checkAck(t, ack, maxSeq)
		}

		// Each accepted seq is dispatched once, in seq order, to its gateway;
		// none at all when events are stopped.
		var seqs []uint64
		for _, tk := range dispatch {
			if tk.ev.Gateway != fuzzNode || tk.acker != ack || tk.link != k {
				t.Fatalf("task %+v not of this link", tk.ev)
			}
			seqs = append(seqs, tk.ev.Ev.GetSeq())
		}
		if !slices.IsSorted(seqs) || len(slices.Compact(slices.Clone(seqs))) != len(seqs) {
			t.Fatalf("dispatched seqs %v: not increasing", seqs)
		}
		if mode%3 == 1 && len(seqs) > 0 {
			t.Fatalf("events stopped, yet %v dispatched", seqs)
		}
		for _, s := range seqs {
			if !fresh[s] {
				t.Fatalf("seq %d dispatched but not fresh", s)
			}
		}

		// Complete the dispatched events in the input's order: the ack never
		// passes an event in hand, and ends at maxSeq once all are done.
		for i, b := range order {
			if len(dispatch) == 0 {
				break
			}
			j := (int(b) + i) % len(dispatch)
			s := dispatch[j].ev.Ev.GetSeq()
			dispatch = slices.Delete(dispatch, j, j+1)
			ack.complete(s)
			checkAck(t, ack, maxSeq)
			for _, tk := range dispatch {
				if ack.base >= tk.ev.Ev.GetSeq() {
					t.Fatalf("ack %d passes seq %d still in hand", ack.base, tk.ev.Ev.GetSeq())
				}
			}
		}
		if mode%3 == 1 && len(fresh) > 0 {
			// Events not taken are not acked; the gap before the first
			// one is (the gateway gave those seqs up).
			if first := slices.Min(slices.Collect(maps.Keys(fresh))); ack.base != first-1 {
				t.Fatalf("events stopped: ack base %d, want %d", ack.base, first-1)
			}
		}
		if mode%3 != 1 {
			for _, tk := range dispatch {
				ack.complete(tk.ev.Ev.GetSeq())
			}
			if a, _ := ack.take(); a != 0 && a != maxSeq || ack.base != maxSeq {
				t.Fatalf("all done: ack %d (base %d), want %d", a, ack.base, maxSeq)
			}
		}

		// Waiters got exactly the replies with their id; the rest fail at
		// the end of the session.
		k.setDown(ack)
		for id, ch := range waiters {
			select {
			case res := <-ch:
				if replied[id] != (res.err == nil) || res.err == nil && res.reply.GetId() != id {
					t.Fatalf("waiter %d got %+v (replied %v)", id, res, replied[id])
				}
			default:
				t.Fatalf("waiter %d got nothing", id)
			}
		}
		if ack.complete(maxSeq) {
			t.Fatal("completion after the session counted")
		}
	})
}

// checkAck asserts the ack invariants: base <= recv <= maxSeq and the ack
// handed to the sender never exceeds the highest seq seen.
func checkAck(t *testing.T, a *acker, maxSeq uint64) {
	t.Helper()
	if a.base > a.recv || a.recv != maxSeq {
		t.Fatalf("acker base %d recv %d, max seq %d", a.base, a.recv, maxSeq)
	}
	if got, _ := a.take(); got > maxSeq {
		t.Fatalf("ack %d > max seq %d", got, maxSeq)
	}
}

// drainShards takes the queued tasks of every shard (checking each shard
// runs them in seq order) and merges them by seq.
func drainShards(t *testing.T, d *dispatcher) []task {
	t.Helper()
	var out []task
	for i, s := range d.shards {
		s.mu.Lock()
		q := s.q[s.head:]
		s.q, s.head = nil, 0
		s.mu.Unlock()
		if !slices.IsSortedFunc(q, bySeq) {
			t.Fatalf("shard %d queue not in seq order", i)
		}
		out = append(out, q...)
	}
	d.inHand.Store(0)
	slices.SortFunc(out, bySeq)
	return out
}

func bySeq(a, b task) int { return cmp.Compare(a.ev.Ev.GetSeq(), b.ev.Ev.GetSeq()) }

// A gap of any size (found by FuzzLinkResponse: it used to allocate one slot
// per skipped seq, hanging the link) is cheap and counted as done.
func TestAckerHugeGap(t *testing.T) {
	a := &acker{}
	const far = 1 << 62
	if !a.received(1) || !a.received(far) {
		t.Fatal("received refused a fresh seq")
	}
	if !a.complete(1) || a.base != far-1 {
		t.Fatalf("after 1: base %d, want %d", a.base, uint64(far-1))
	}
	if a.complete(2) {
		t.Fatal("a seq of the gap completed")
	}
	if !a.complete(far) || a.base != far || len(a.hand) != 0 {
		t.Fatalf("after far: base %d, %d in hand", a.base, len(a.hand))
	}
}
