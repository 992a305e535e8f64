package register

import (
	"context"
	"errors"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func newClusterStore(t *testing.T, name string, join ...string) *ClusterStore {
	t.Helper()
	s, err := NewClusterStore(ClusterConfig{
		Name:           name,
		BindAddr:       "127.0.0.1:0",
		Join:           join,
		SecretKey:      KeyFromSecret("test secret"),
		GossipInterval: 20 * time.Millisecond,
		ProbeInterval:  100 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// gateListener closes the connections it accepts until opened: a register
// behind it looks down.
type gateListener struct {
	net.Listener
	open atomic.Bool
}

func (g *gateListener) Accept() (net.Conn, error) {
	for {
		c, err := g.Listener.Accept()
		if err != nil || g.open.Load() {
			return c, err
		}
		c.Close()
	}
}

// serveOn serves r on lis; the returned stop is idempotent.
func serveOn(t *testing.T, r *Register, lis net.Listener) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, lis) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return stop
}

// sets records the sets a discovery.Watcher reports.
type sets struct {
	mu  sync.Mutex
	all [][]uint64
}

func (s *sets) onChange(gws []*pb.GatewayInfo) {
	ids := []uint64{}
	for _, g := range gws {
		ids = append(ids, g.GetNodeId())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.all = append(s.all, ids)
}

func (s *sets) lastIs(want ...uint64) func() bool {
	return func() bool {
		s.mu.Lock()
		defer s.mu.Unlock()
		return len(s.all) > 0 && slices.Equal(s.all[len(s.all)-1], want)
	}
}

// lostSince reports whether a set after index from missed id.
func (s *sets) lostSince(from int, id uint64) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, set := range s.all[from:] {
		if !slices.Contains(set, id) {
			return true
		}
	}
	return false
}

func (s *sets) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.all)
}

func TestClusterConfigValidation(t *testing.T) {
	for name, cfg := range map[string]ClusterConfig{
		"bad addr":  {BindAddr: "nowhere"},
		"bad port":  {BindAddr: "127.0.0.1:x"},
		"bad key":   {BindAddr: "127.0.0.1:0", SecretKey: []byte("short")},
		"neg probe": {BindAddr: "127.0.0.1:0", ProbeInterval: -1},
	} {
		if _, err := NewClusterStore(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v, want ErrInvalidConfig", name, err)
		}
	}
	if n := len(KeyFromSecret("x")); n != 32 {
		t.Fatalf("KeyFromSecret: %d bytes", n)
	}
}

func TestClusterFailoverAndExpiry(t *testing.T) {
	sA := newClusterStore(t, "A")
	sB := newClusterStore(t, "B", sA.Addr())
	sC := newClusterStore(t, "C", sA.Addr())
	for _, s := range []*ClusterStore{sA, sB, sC} {
		waitFor(t, 10*time.Second, "cluster of 3", func() bool { return len(s.Members()) == 3 })
	}
	rA := newRegister(t, Config{Name: "A", Store: sA})
	rB := newRegister(t, Config{Name: "B", Store: sB})
	rC := newRegister(t, Config{Name: "C", Store: sC})
	lisA, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lisB, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gateB := &gateListener{Listener: lisB} // B looks down: the gateway lands on A
	stopA := serveOn(t, rA, lisA)
	serveOn(t, rB, gateB)
	addrC, _ := serve(t, rC)

	// Watch on C.
	rec := &sets{}
	w, err := discovery.NewWatcher(discovery.WatcherConfig{Registers: []string{addrC}, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	wctx, wcancel := context.WithCancel(context.Background())
	wdone := make(chan error, 1)
	go func() { wdone <- w.Run(wctx, rec.onChange) }()
	defer func() { wcancel(); <-wdone }()

	// Announce on A; C's watcher sees it.
	const ttl = time.Second
	a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
		Registers: []string{lisA.Addr().String(), lisB.Addr().String()},
		Gateway:   gw(100), TTL: ttl, MinBackoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	actx, acancel := context.WithCancel(context.Background())
	adone := make(chan error, 1)
	go func() { adone <- a.Run(actx) }()
	var stopOnce sync.Once
	stopAnnouncer := func() { stopOnce.Do(func() { acancel(); <-adone }) }
	defer stopAnnouncer()
	waitFor(t, 5*time.Second, "C's watcher sees the gateway announced on A", rec.lastIs(100))
	from := rec.len() - 1

	// Kill A: the gateway re-announces to B; C's watcher never sees it go.
	gateB.open.Store(true)
	stopA()
	if err := sA.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "C sees A gone", func() bool { return len(sC.Members()) == 2 })
	waitFor(t, 5*time.Second, "gateway held by B", func() bool {
		sC.mu.Lock()
		defer sC.mu.Unlock()
		l, ok := sC.leases.get(100)
		return ok && l.owner == "B"
	})
	// Past A's TTL countdown, the gateway is still live on C.
	deadline := time.Now().Add(ttl + 300*time.Millisecond)
	for time.Now().Before(deadline) {
		if !slices.ContainsFunc(rC.Gateways(), func(g *pb.GatewayInfo) bool { return g.GetNodeId() == 100 }) {
			t.Fatal("gateway vanished from C after failover")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if rec.lostSince(from, 100) {
		t.Fatal("C's watcher saw the gateway removed during failover")
	}

	// A gateway dies without leave on B: gone everywhere after its TTL.
	ctx, cancel := context.WithCancel(t.Context())
	announce(t, ctx, client(t, lisB.Addr().String(), ""), gw(200), 500*time.Millisecond)
	waitFor(t, 5*time.Second, "C's watcher sees the second gateway", rec.lastIs(100, 200))
	cancel()
	died := time.Now()
	waitFor(t, 5*time.Second, "second gateway expires on C", rec.lastIs(100))
	if d := time.Since(died); d < 400*time.Millisecond {
		t.Fatalf("second gateway removed from C %v after it died, before its TTL", d)
	}
	waitFor(t, 2*time.Second, "second gateway expires on B", func() bool { return len(rB.Gateways()) == 1 })

	// Leave removes at once everywhere.
	stopAnnouncer()
	waitFor(t, 2*time.Second, "leave seen on C", rec.lastIs())
}

func TestClusterOwnerLeavesLeaseCountsDown(t *testing.T) {
	sA := newClusterStore(t, "A")
	sB := newClusterStore(t, "B", sA.Addr())
	waitFor(t, 10*time.Second, "cluster of 2", func() bool { return len(sB.Members()) == 2 })
	sub, err := sB.Watch(16)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if err := sA.Put(gw(1), 400*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if c := next(t, sub, 5*time.Second); c.Kind != ChangeAdded || c.Gateway.GetNodeId() != 1 {
		t.Fatalf("got %+v, want ADDED 1", c)
	}
	if err := sA.Close(); err != nil {
		t.Fatal(err)
	}
	left := time.Now()
	if c := next(t, sub, 5*time.Second); c.Kind != ChangeRemoved || c.Gateway.GetNodeId() != 1 {
		t.Fatalf("got %+v, want REMOVED 1", c)
	}
	if d := time.Since(left); d < 300*time.Millisecond {
		t.Fatalf("removed %v after its owner left, before the TTL", d)
	}
}

func TestClusterJoinSyncsState(t *testing.T) {
	sA := newClusterStore(t, "A")
	if err := sA.Put(gw(5), time.Minute); err != nil {
		t.Fatal(err)
	}
	sB := newClusterStore(t, "B", sA.Addr())
	waitFor(t, 5*time.Second, "B learns A's lease by push/pull", func() bool {
		sub, err := sB.Watch(1)
		if err != nil {
			return false
		}
		defer sub.Stop()
		return len(sub.Snapshot) == 1 && sub.Snapshot[0].GetNodeId() == 5
	})
	if err := sA.Delete(5); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "B learns the removal", func() bool {
		sub, err := sB.Watch(1)
		if err != nil {
			return false
		}
		defer sub.Stop()
		return len(sub.Snapshot) == 0
	})
}

func FuzzDecodeGossip(f *testing.F) {
	l := &lease{info: gw(9), owner: "A", version: 42, ttl: time.Second}
	e, _ := encodeWire(entryOf(l))
	f.Add(e)
	del, _ := encodeWire(wireEntry{Node: 9, Owner: "A", Version: 43, Deleted: true})
	f.Add(del)
	st, _ := encodeWire(wireState{Owner: "A", At: 44, Entries: []wireEntry{entryOf(l)}})
	f.Add(st)
	f.Add([]byte{wireVersion, '{', '}'})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		if e, info, err := decodeEntry(b); err == nil {
			if e.Node == 0 || e.Owner == "" || (!e.Deleted && (info == nil || info.GetNodeId() != e.Node)) {
				t.Fatalf("accepted invalid entry %+v", e)
			}
		}
		if s, infos, err := decodeState(b); err == nil {
			if len(infos) != len(s.Entries) {
				t.Fatalf("state with %d entries decoded %d infos", len(s.Entries), len(infos))
			}
		}
	})
}

func TestClusterEndLeaseDoesNotTakeBack(t *testing.T) {
	sA := newClusterStore(t, "A")
	sB := newClusterStore(t, "B", sA.Addr())
	waitFor(t, 10*time.Second, "cluster of 2", func() bool { return len(sA.Members()) == 2 })
	if err := sA.Put(gw(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	owner := func(s *ClusterStore) string {
		s.mu.Lock()
		defer s.mu.Unlock()
		if l, ok := s.leases.get(1); ok {
			return l.owner
		}
		return ""
	}
	waitFor(t, 5*time.Second, "B sees A's lease", func() bool { return owner(sB) == "A" })
	if err := sB.Put(gw(1), time.Minute); err != nil { // the gateway moved to B
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "A sees B's lease", func() bool { return owner(sA) == "B" })
	// A notices its old stream broke only now.
	if err := sA.endLease(gw(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	if o := owner(sA); o != "B" {
		t.Fatalf("after a late stream end on A, owner = %q, want B", o)
	}
}
