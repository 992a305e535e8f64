package linker

import (
	"cmp"
	"context"
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
			Source:  func(ctx context.Context, _ func([]*pb.GatewayInfo)) error { <-ctx.Done(); return nil },
			Events:  worker,
			Handler: func(context.Context, Event) {},
		})
		if err != nil {
			t.Fatal(err)
		}
		if l.disp != nil {
			l.disp.start = func(func()) {} // the test takes the queued tasks itself
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

		// Complete the dispatched events in the input's order: each
		// completed seq is acked exactly once, never one still in hand.
		acked := map[uint64]bool{}
		takeAcks := func() {
			t.Helper()
			ranges, _ := ack.take()
			for _, r := range ranges {
				if r.GetFirst() > r.GetLast() || r.GetLast() > maxSeq {
					t.Fatalf("bad ack range [%d, %d], max seq %d", r.GetFirst(), r.GetLast(), maxSeq)
				}
				for s := r.GetFirst(); ; s++ {
					if acked[s] {
						t.Fatalf("seq %d acked twice", s)
					}
					acked[s] = true
					for _, tk := range dispatch {
						if tk.ev.Ev.GetSeq() == s {
							t.Fatalf("seq %d acked while in hand", s)
						}
					}
					if s == r.GetLast() {
						break
					}
				}
			}
		}
		for i, b := range order {
			if len(dispatch) == 0 {
				break
			}
			j := (int(b) + i) % len(dispatch)
			s := dispatch[j].ev.Ev.GetSeq()
			dispatch = slices.Delete(dispatch, j, j+1)
			ack.complete(s)
			takeAcks()
		}
		if mode%3 == 1 && len(acked) > 0 {
			t.Fatalf("events stopped, yet %d acked", len(acked))
		}
		if mode%3 != 1 {
			for len(dispatch) > 0 {
				s := dispatch[0].ev.Ev.GetSeq()
				dispatch = dispatch[1:]
				ack.complete(s)
			}
			takeAcks()
			if _, inHand := ack.take(); inHand && worker {
				t.Fatal("all done, yet events in hand")
			}
			for s := range fresh {
				if worker && !acked[s] {
					t.Fatalf("seq %d done and never acked", s)
				}
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

// checkAck asserts the acker saw every seq up to the highest one.
func checkAck(t *testing.T, a *acker, maxSeq uint64) {
	t.Helper()
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.recv != maxSeq {
		t.Fatalf("acker recv %d, max seq %d", a.recv, maxSeq)
	}
}

// drainShards takes the queued tasks of every client (checking each client's
// are in seq order) and merges them by seq.
func drainShards(t *testing.T, d *dispatcher) []task {
	t.Helper()
	var out []task
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for k, cq := range s.clients {
			q := cq.q[cq.head:]
			if !slices.IsSortedFunc(q, bySeq) {
				t.Fatalf("client %v queue not in seq order", k)
			}
			out = append(out, q...)
			delete(s.clients, k)
		}
		s.mu.Unlock()
	}
	d.inHand.Store(0)
	slices.SortFunc(out, bySeq)
	return out
}

func bySeq(a, b task) int { return cmp.Compare(a.ev.Ev.GetSeq(), b.ev.Ev.GetSeq()) }

// A gap of any size (found by FuzzLinkResponse: it used to allocate one slot
// per skipped seq, hanging the link) costs nothing.
func TestAckerHugeGap(t *testing.T) {
	a := &acker{}
	const far = 1 << 62
	if !a.received(1) || !a.received(far) {
		t.Fatal("received refused a fresh seq")
	}
	if a.complete(1); a.complete(far) {
		t.Fatal("second completion reported as the first ack waiting")
	}
	ranges, inHand := a.take()
	if inHand || len(ranges) != 2 || ranges[0].GetLast() != 1 || ranges[1].GetFirst() != far {
		t.Fatalf("ranges %v in hand %v", ranges, inHand)
	}
}
