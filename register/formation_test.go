package register

import (
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// freeGossipAddrs returns n loopback addresses whose port is free for both
// TCP and UDP at the time of the call.
func freeGossipAddrs(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err != nil {
			continue // UDP port taken: try another
		}
		u.Close()
		out = append(out, addr)
	}
	return out
}

// startTogether starts one ClusterStore per address at the same moment,
// each with the same Join list naming all of them (itself included, as in
// a shared configuration), and returns them and when they started.
func startTogether(t *testing.T, addrs []string) ([]*ClusterStore, time.Time) {
	t.Helper()
	stores := make([]*ClusterStore, len(addrs))
	errs := make([]error, len(addrs))
	var wg sync.WaitGroup
	start := time.Now()
	for i, a := range addrs {
		join := addrs
		wg.Go(func() {
			stores[i], errs[i] = NewClusterStore(ClusterConfig{
				Name:      "R" + string(rune('A'+i)),
				BindAddr:  a,
				Join:      join,
				SecretKey: KeyFromSecret("test secret"),
			})
		})
	}
	wg.Wait()
	for i, s := range stores {
		if errs[i] != nil {
			t.Fatal(errs[i])
		}
		t.Cleanup(func() { s.Close() })
	}
	return stores, start
}

// Three registers started in the same instant, each joining the two others,
// form one cluster within about a second: the ones whose first join came
// before the others listened retry after 100 ms, 200 ms... instead of
// waiting for the 10 s rejoin. The memberlist settings are the production
// defaults.
func TestClusterFormsAtOnce(t *testing.T) {
	stores, start := startTogether(t, freeGossipAddrs(t, 3))
	formed := func() bool {
		for _, s := range stores {
			if len(s.Members()) != 3 || !s.Joined() {
				return false
			}
		}
		return true
	}
	waitFor(t, 5*time.Second, "one cluster of 3", formed)
	took := time.Since(start)
	t.Logf("3 registers formed one cluster %v after they started", took.Round(time.Millisecond))
	if took > 3*time.Second {
		t.Fatalf("formation took %v, want about a second", took)
	}
	for _, s := range stores {
		if n := s.Size(); n != 3 {
			t.Fatalf("%s: Size() = %d, want 3", s.name, n)
		}
	}
}

// A register whose Join names only itself is a cluster of one at once.
func TestClusterJoinOnlySelf(t *testing.T) {
	addr := freeGossipAddrs(t, 1)[0]
	s, err := NewClusterStore(ClusterConfig{Name: "A", BindAddr: addr, Join: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !s.Joined() || s.Size() != 1 {
		t.Fatalf("Joined %v, Size %d; want true, 1", s.Joined(), s.Size())
	}
}

// A register whose peers are not up yet is not ready, says it is joining,
// and becomes ready once a peer appears within its join timeout.
func TestRegisterReadyWhileJoining(t *testing.T) {
	addrs := freeGossipAddrs(t, 2)
	sA, err := NewClusterStore(ClusterConfig{Name: "A", BindAddr: addrs[0], Join: addrs[1:], SecretKey: KeyFromSecret("s")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sA.Close() })
	r, err := New(Config{Store: sA})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, r, lis)
	waitFor(t, 5*time.Second, "serving", func() bool { return r.served.Load() })
	err = r.Ready()
	if !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "joining") {
		t.Fatalf("Ready while joining = %v", err)
	}
	time.Sleep(300 * time.Millisecond) // A has tried at least twice
	sB, err := NewClusterStore(ClusterConfig{Name: "B", BindAddr: addrs[1], SecretKey: KeyFromSecret("s")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sB.Close() })
	waitFor(t, 5*time.Second, "A joined B", func() bool { return r.Ready() == nil })
	if len(sA.Members()) != 2 {
		t.Fatalf("members %v", sA.Members())
	}
}

// A register whose peers never come runs alone after its join timeout and
// says so.
func TestRegisterReadyAloneAfterJoinTimeout(t *testing.T) {
	addrs := freeGossipAddrs(t, 2)
	sA, err := NewClusterStore(ClusterConfig{Name: "A", BindAddr: addrs[0], Join: addrs[1:], JoinTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sA.Close() })
	r, err := New(Config{Store: sA})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, r, lis)
	waitFor(t, 5*time.Second, "join attempts over", sA.JoinEnded)
	if err := r.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "alone") {
		t.Fatalf("Ready alone = %v", err)
	}
}

// Tombstones of removals gossiped by another register are swept on every
// register, not only on the one that made them.
func TestClusterRemoteTombstonesSwept(t *testing.T) {
	sA := newClusterStore(t, "A")
	sB := newClusterStore(t, "B", sA.Addr())
	for _, s := range []*ClusterStore{sA, sB} {
		s.mu.Lock()
		s.tombTTL = 300 * time.Millisecond
		s.mu.Unlock()
	}
	waitFor(t, 10*time.Second, "cluster of 2", func() bool { return len(sB.Members()) == 2 })
	for id := uint64(1); id <= 3; id++ {
		if err := sA.Put(gw(id), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "B sees A's leases", func() bool { return len(snapshot(t, sB)) == 3 })
	for id := uint64(1); id <= 3; id++ {
		if err := sA.Delete(id); err != nil {
			t.Fatal(err)
		}
	}
	waitFor(t, 5*time.Second, "B sees the removals", func() bool { return len(snapshot(t, sB)) == 0 })
	if n := sB.Tombstones(); n != 3 {
		t.Fatalf("B remembers %d removals, want 3", n)
	}
	// No further change arrives on B: only its own timer can sweep.
	waitFor(t, 5*time.Second, "tombstones swept on both", func() bool { return sA.Tombstones() == 0 && sB.Tombstones() == 0 })
}

func snapshot(t *testing.T, s *ClusterStore) []uint64 {
	t.Helper()
	sub, err := s.Watch(1)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	var ids []uint64
	for _, g := range sub.Snapshot {
		ids = append(ids, g.GetNodeId())
	}
	return ids
}

// Registers that join only a seed which starts after them (within the same
// second) are one cluster within about a second of the seed starting, not
// at the next 10 s rejoin.
func TestClusterFormsWhenSeedStartsLast(t *testing.T) {
	addrs := freeGossipAddrs(t, 3)
	seed := addrs[2]
	var early []*ClusterStore
	for i, a := range addrs[:2] {
		s, err := NewClusterStore(ClusterConfig{Name: "R" + string(rune('A'+i)), BindAddr: a, Join: []string{seed}, SecretKey: KeyFromSecret("s")})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		early = append(early, s)
	}
	time.Sleep(500 * time.Millisecond) // their first joins fail
	started := time.Now()
	sS, err := NewClusterStore(ClusterConfig{Name: "S", BindAddr: seed, SecretKey: KeyFromSecret("s")})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sS.Close() })
	all := append(early, sS)
	waitFor(t, 5*time.Second, "one cluster of 3", func() bool {
		for _, s := range all {
			if len(s.Members()) != 3 {
				return false
			}
		}
		return true
	})
	took := time.Since(started)
	t.Logf("one cluster %v after the seed started", took.Round(time.Millisecond))
	if n := sS.Size(); n != 3 {
		t.Fatalf("seed's Size() = %d, want 3 (the most members it has seen)", n)
	}
	if took > 2*time.Second {
		t.Fatalf("formation took %v after the seed started, want about a second", took)
	}
}
