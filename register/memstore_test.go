package register

import (
	"errors"
	"testing"
	"time"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func gw(id uint64) *pb.GatewayInfo {
	return &pb.GatewayInfo{NodeId: id, LanAddr: "127.0.0.1:1", Name: "gw"}
}

// next receives one change or fails after d.
func next(t *testing.T, sub *Subscription, d time.Duration) Change {
	t.Helper()
	select {
	case c, ok := <-sub.C:
		if !ok {
			t.Fatalf("subscription closed: %v", sub.Err())
		}
		return c
	case <-time.After(d):
		t.Fatalf("no change within %v", d)
		return Change{}
	}
}

func TestMemoryStoreSnapshotAndChanges(t *testing.T) {
	s := NewMemoryStore()
	defer s.Close()
	if err := s.Put(gw(2), time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(gw(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Watch(8)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	if len(sub.Snapshot) != 2 || sub.Snapshot[0].GetNodeId() != 1 || sub.Snapshot[1].GetNodeId() != 2 {
		t.Fatalf("snapshot = %v, want node ids 1, 2", sub.Snapshot)
	}
	// A refresh with the same info is no change; new info is.
	if err := s.Put(gw(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	changed := gw(1)
	changed.LanAddr = "127.0.0.1:2"
	if err := s.Put(changed, time.Minute); err != nil {
		t.Fatal(err)
	}
	if c := next(t, sub, time.Second); c.Kind != ChangeAdded || c.Gateway.GetLanAddr() != "127.0.0.1:2" {
		t.Fatalf("got %+v, want ADDED with the new address", c)
	}
	if err := s.Delete(2); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(2); err != nil {
		t.Fatalf("second delete: %v", err)
	}
	if c := next(t, sub, time.Second); c.Kind != ChangeRemoved || c.Gateway.GetNodeId() != 2 {
		t.Fatalf("got %+v, want REMOVED 2", c)
	}
	select {
	case c := <-sub.C:
		t.Fatalf("unexpected change %+v", c)
	default:
	}
}

func TestMemoryStoreExpiresByTimer(t *testing.T) {
	s := NewMemoryStore()
	defer s.Close()
	sub, err := s.Watch(8)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	start := time.Now()
	if err := s.Put(gw(7), 150*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(gw(8), time.Minute); err != nil {
		t.Fatal(err)
	}
	next(t, sub, time.Second)
	next(t, sub, time.Second)
	// Nobody reads the store: the removal comes from the timer.
	c := next(t, sub, 2*time.Second)
	if c.Kind != ChangeRemoved || c.Gateway.GetNodeId() != 7 {
		t.Fatalf("got %+v, want REMOVED 7", c)
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("expired after %v, before its TTL", d)
	}
}

func TestMemoryStoreRefreshExtends(t *testing.T) {
	s := NewMemoryStore()
	defer s.Close()
	if err := s.Put(gw(1), 100*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(gw(1), time.Minute); err != nil {
		t.Fatal(err)
	}
	sub, err := s.Watch(8)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Stop()
	select {
	case c := <-sub.C:
		t.Fatalf("refreshed lease changed: %+v", c)
	case <-time.After(300 * time.Millisecond):
	}
}

func TestMemoryStoreSlowWatcherDropped(t *testing.T) {
	s := NewMemoryStore()
	defer s.Close()
	slow, err := s.Watch(2)
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Stop()
	fast, err := s.Watch(100)
	if err != nil {
		t.Fatal(err)
	}
	defer fast.Stop()
	for i := uint64(1); i <= 5; i++ {
		if err := s.Put(gw(i), time.Minute); err != nil {
			t.Fatal(err)
		}
	}
	n := 0
	for range slow.C {
		n++
	}
	if n != 2 || !errors.Is(slow.Err(), ErrSlowWatcher) {
		t.Fatalf("slow watcher got %d changes, err %v; want 2, ErrSlowWatcher", n, slow.Err())
	}
	for i := uint64(1); i <= 5; i++ {
		if c := next(t, fast, time.Second); c.Gateway.GetNodeId() != i {
			t.Fatalf("fast watcher got %+v, want node %d", c, i)
		}
	}
}

func TestMemoryStoreClose(t *testing.T) {
	s := NewMemoryStore()
	sub, err := s.Watch(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(gw(1), 50*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for range sub.C {
	}
	if !errors.Is(sub.Err(), ErrClosed) {
		t.Fatalf("sub err = %v, want ErrClosed", sub.Err())
	}
	sub.Stop()
	if err := s.Put(gw(1), time.Second); !errors.Is(err, ErrClosed) {
		t.Fatalf("put after close = %v", err)
	}
	if err := s.Delete(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("delete after close = %v", err)
	}
	if _, err := s.Watch(1); !errors.Is(err, ErrClosed) {
		t.Fatalf("watch after close = %v", err)
	}
}

func TestMemoryStoreInvalidGateway(t *testing.T) {
	s := NewMemoryStore()
	defer s.Close()
	for _, g := range []*pb.GatewayInfo{nil, {LanAddr: "x:1"}, {NodeId: 1}} {
		if err := s.Put(g, time.Second); !errors.Is(err, ErrInvalidGateway) {
			t.Errorf("Put(%v) = %v, want ErrInvalidGateway", g, err)
		}
	}
}

func TestStopIsIdempotent(t *testing.T) {
	s := NewMemoryStore()
	defer s.Close()
	sub, err := s.Watch(1)
	if err != nil {
		t.Fatal(err)
	}
	sub.Stop()
	sub.Stop()
	if _, ok := <-sub.C; ok || sub.Err() != nil {
		t.Fatalf("stopped sub: open=%v err=%v", ok, sub.Err())
	}
}

func BenchmarkMemoryStoreRefresh(b *testing.B) {
	s := NewMemoryStore()
	defer s.Close()
	const n = 1000
	for i := uint64(1); i <= n; i++ {
		if err := s.Put(gw(i), time.Minute); err != nil {
			b.Fatal(err)
		}
	}
	info := gw(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		info.NodeId = uint64(i%n) + 1
		if err := s.Put(info, time.Minute); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMemoryStorePublish100Watchers(b *testing.B) {
	s := NewMemoryStore()
	defer s.Close()
	subs := make([]*Subscription, 100)
	for i := range subs {
		sub, err := s.Watch(4)
		if err != nil {
			b.Fatal(err)
		}
		subs[i] = sub
	}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		if err := s.Put(gw(uint64(i%2)+1), time.Minute); err != nil {
			b.Fatal(err)
		}
		if err := s.Delete(uint64(i%2) + 1); err != nil {
			b.Fatal(err)
		}
		for _, sub := range subs {
			<-sub.C
			<-sub.C
		}
	}
	for _, sub := range subs {
		sub.Stop()
	}
}
