package loadgen

import (
	"context"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"
)

// layoutOf places every connection of a run split over procs processes the
// way Bench does, and returns per ordinal its URL index and scope.
func layoutOf(t *testing.T, cfg Config) (urls, scopes map[int]int) {
	t.Helper()
	cfg.ChildCommand = func(context.Context) *exec.Cmd { return nil }
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	urls, scopes = map[int]int{}, map[int]int{}
	for _, wc := range b.shares(1) {
		if err := wc.setDefaults(); err != nil {
			t.Fatal(err)
		}
		for i := range wc.Conns {
			o := wc.ordinal(i)
			if _, dup := urls[o]; dup {
				t.Fatalf("ordinal %d given twice", o)
			}
			if i < wc.Senders && o != wc.SenderBase+i {
				t.Fatalf("sender %d has ordinal %d", wc.SenderBase+i, o)
			}
			urls[o], scopes[o] = wc.place(o)
		}
	}
	if len(urls) != cfg.Worker.Conns {
		t.Fatalf("%d ordinals for %d connections", len(urls), cfg.Worker.Conns)
	}
	for o := range cfg.Worker.Conns {
		if _, ok := urls[o]; !ok {
			t.Fatalf("ordinal %d missing", o)
		}
	}
	return urls, scopes
}

func TestLayoutGroupsSpreadOverCluster(t *testing.T) {
	five := []string{"ws://127.0.0.1:1/", "ws://127.0.0.1:2/", "ws://127.0.0.1:3/", "ws://127.0.0.1:4/", "ws://127.0.0.1:5/"}
	// 100 groups of 95 over 5 gateways, 100 senders, 3 processes of
	// uneven shares: each sender is alone in its group and every group has
	// 19 members on every gateway.
	urls, scopes := layoutOf(t, Config{
		Worker: WorkerConfig{URLs: five, Conns: 9500, Senders: 100, Rate: 1, Groups: 100},
		Procs:  3,
	})
	perGroupURL := map[[2]int]int{}
	for o := range 9500 {
		perGroupURL[[2]int{scopes[o], urls[o]}]++
	}
	for g := range 100 {
		if scopes[g] != g {
			t.Fatalf("sender %d is in group %d", g, scopes[g])
		}
		for u := range 5 {
			if n := perGroupURL[[2]int{g, u}]; n != 19 {
				t.Fatalf("group %d has %d members on URL %d, want 19", g, n, u)
			}
		}
	}
}

func TestLayoutIndependent(t *testing.T) {
	two := []string{"ws://127.0.0.1:1/", "ws://127.0.0.1:2/"}
	urls, scopes := layoutOf(t, Config{
		Worker: WorkerConfig{URLs: two, Conns: 40, Senders: 4, Rate: 1, Groups: 4, Independent: true},
		Procs:  2,
	})
	groupURL := map[int]int{}
	for o := range 40 {
		if u, ok := groupURL[scopes[o]]; ok && u != urls[o] {
			t.Fatalf("group %d on URLs %d and %d", scopes[o], u, urls[o])
		}
		groupURL[scopes[o]] = urls[o]
	}
	if len(groupURL) != 4 {
		t.Fatalf("groups %v", groupURL)
	}
	_, err := New(Config{Worker: WorkerConfig{URLs: two, Conns: 9, Senders: 1, Rate: 1, Groups: 3, Independent: true}})
	if err == nil {
		t.Fatal("3 groups over 2 independent URLs accepted")
	}
}

func childCmd(t *testing.T) func(ctx context.Context) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return func(ctx context.Context) *exec.Cmd {
		cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1")
		cmd.Stderr = os.Stderr
		return cmd
	}
}

// Groups over two URLs of one server (a cluster of one) and two child
// processes: each message reaches its group only, and the parent's
// expected count is the sum over groups.
func TestGroupsNoLoss(t *testing.T) {
	srv := startTestServer(t, nil)
	rep := runBench(t, Config{
		Worker:       WorkerConfig{URLs: []string{srv.url() + "a", srv.url() + "b"}, Conns: 30, Senders: 3, Rate: 20, Groups: 3},
		Procs:        2,
		ChildCommand: childCmd(t),
	})
	if rep.Conns != 30 || rep.Sent == 0 || rep.Groups != 3 || len(rep.URLs) != 2 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Expected != rep.Sent*10 || rep.Deliveries != rep.Expected || rep.Loss != 0 || rep.Dups != 0 {
		t.Fatalf("sent %d expected %d deliveries %d loss %d dups %d", rep.Sent, rep.Expected, rep.Deliveries, rep.Loss, rep.Dups)
	}
}

// A server that ignores groups sends every message to all 30: the
// accounting shows the extra deliveries as negative loss.
func TestGroupsLeakShows(t *testing.T) {
	srv := startTestServer(t, func(s *testServer) { s.ignoreGroups = true })
	rep := runBench(t, Config{
		Worker: WorkerConfig{URL: srv.url(), Conns: 30, Senders: 3, Rate: 20, Groups: 3},
	})
	if rep.Sent == 0 || rep.Expected != rep.Sent*10 || rep.Deliveries != rep.Sent*30 || rep.Loss >= 0 {
		t.Fatalf("sent %d expected %d deliveries %d loss %d", rep.Sent, rep.Expected, rep.Deliveries, rep.Loss)
	}
}

// Two independent servers: a message reaches its sender's server only.
func TestIndependentServers(t *testing.T) {
	a, b := startTestServer(t, nil), startTestServer(t, nil)
	rep := runBench(t, Config{
		Worker: WorkerConfig{URLs: []string{a.url(), b.url()}, Conns: 21, Senders: 2, Rate: 20, Independent: true},
	})
	// Sender 0 and 11 receivers on a, sender 1 and 10 receivers on b.
	if rep.Sent == 0 || rep.Deliveries != rep.Expected || rep.Loss != 0 || rep.Expected >= rep.Sent*21 {
		t.Fatalf("sent %d expected %d deliveries %d loss %d", rep.Sent, rep.Expected, rep.Deliveries, rep.Loss)
	}
}

// Aligned senders send at the same instants; by default they are spread
// over one interval (rate 2: 0, 125, 250, 375 ms).
func TestAlignedSenders(t *testing.T) {
	for _, aligned := range []bool{true, false} {
		var mu sync.Mutex
		var first []time.Time
		srv := startTestServer(t, func(s *testServer) {
			s.hook = func(n, k int) (bool, bool) {
				mu.Lock()
				defer mu.Unlock()
				if k == 0 && len(first) < 4 {
					first = append(first, time.Now())
				}
				return false, false
			}
		})
		runBench(t, Config{Worker: WorkerConfig{URL: srv.url(), Conns: 4, Senders: 4, Rate: 2, Aligned: aligned}})
		mu.Lock()
		if len(first) < 4 {
			t.Fatalf("aligned %v: %d messages", aligned, len(first))
		}
		spread := first[3].Sub(first[0])
		mu.Unlock()
		if aligned && spread > 60*time.Millisecond || !aligned && spread < 300*time.Millisecond {
			t.Errorf("aligned %v: first four messages %v apart", aligned, spread)
		}
	}
}

// benchDeliver measures the receive accounting of one connection hearing
// every sender in turn (senders <= maxSeqSlice: a slice; more: a map), with
// the payload's encoding (AppendPayload) included.
func benchDeliver(b *testing.B, senders int) {
	w, err := NewWorker(WorkerConfig{URL: "ws://127.0.0.1:1/", Conns: 1, TotalSenders: senders})
	if err != nil {
		b.Fatal(err)
	}
	w.measureStart.Store(0)
	c := &client{w: w, sender: noSender}
	buf := make([]byte, 0, PayloadSize)
	for s := range senders { // the first message of each sender allocates
		c.deliver(AppendPayload(buf[:0], Message{Sender: uint32(s), Seq: 0, Sent: 1}, PayloadSize))
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := range b.N {
		m := Message{Sender: uint32(i % senders), Seq: uint32(1 + i/senders), Sent: 1}
		c.deliver(AppendPayload(buf[:0], m, PayloadSize))
	}
	b.StopTimer()
	if c.dups.Load() != 0 || c.gaps.Load() != 0 || c.bad.Load() != 0 {
		b.Fatalf("dups %d gaps %d bad %d", c.dups.Load(), c.gaps.Load(), c.bad.Load())
	}
}

func BenchmarkDeliver16Senders(b *testing.B)   { benchDeliver(b, 16) }
func BenchmarkDeliver1000Senders(b *testing.B) { benchDeliver(b, 1000) }
