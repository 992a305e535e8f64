package discovery_test

import (
	"context"
	"errors"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
	"github.com/gatewayworker/gatewayworker/register"
)

func TestConfigValidation(t *testing.T) {
	if _, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{Gateway: gateway(1)}); !errors.Is(err, discovery.ErrNoRegisters) {
		t.Errorf("no registers: %v", err)
	}
	for _, g := range []*pb.GatewayInfo{nil, {LanAddr: "x:1"}, {NodeId: 1}} {
		_, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{Registers: []string{"x:1"}, Gateway: g})
		if !errors.Is(err, discovery.ErrInvalidGateway) {
			t.Errorf("gateway %v: %v", g, err)
		}
	}
	_, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{Registers: []string{"x:1"}, Gateway: gateway(1), TTL: -1})
	if !errors.Is(err, discovery.ErrInvalidConfig) {
		t.Errorf("negative TTL: %v", err)
	}
	_, err = discovery.NewWatcher(discovery.WatcherConfig{Registers: []string{"x:1"}, MinBackoff: time.Second, MaxBackoff: time.Millisecond})
	if !errors.Is(err, discovery.ErrInvalidConfig) {
		t.Errorf("min > max backoff: %v", err)
	}
	if _, err := discovery.NewWatcher(discovery.WatcherConfig{}); !errors.Is(err, discovery.ErrNoRegisters) {
		t.Errorf("watcher without registers: %v", err)
	}
}

func TestDialFailsFast(t *testing.T) {
	addr := freeAddr(t)
	start := time.Now()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	if _, err := discovery.Dial(ctx, addr, "s"); !errors.Is(err, discovery.ErrNotReady) {
		t.Fatalf("Dial to a closed port = %v, want ErrNotReady", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Dial took %v to fail", d)
	}
}

func TestAnnounceWatchLeave(t *testing.T) {
	r := startRegister(t, register.Config{Secret: "s"})
	rec := &recorder{}
	w := newWatcher(t, "s", r.addr)
	stopW := run(t, 5*time.Second, func(ctx context.Context) error { return w.Run(ctx, rec.onChange) })
	waitFor(t, 5*time.Second, "empty snapshot", rec.lastIs())

	a := newAnnouncer(t, 42, 30*time.Second, "s", r.addr)
	stopA := run(t, 5*time.Second, a.Run)
	waitFor(t, 5*time.Second, "announced", a.Announced)
	waitFor(t, 5*time.Second, "watcher sees the gateway", rec.lastIs(42))
	if got := r.Gateways(); len(got) != 1 || got[0].GetLanAddr() != "127.0.0.1:9" {
		t.Fatalf("register holds %v", got)
	}

	// Leave removes at once: the 30 s TTL is not waited for.
	if took := stopA(); took > 1500*time.Millisecond {
		t.Fatalf("announcer took %v to leave", took)
	}
	if a.Announced() {
		t.Fatal("Announced after Run returned")
	}
	waitFor(t, 2*time.Second, "watcher sees the leave", rec.lastIs())
	if len(r.Gateways()) != 0 {
		t.Fatal("register still holds the gateway after leave")
	}
	stopW()
}

func TestAnnouncerKeepsLeaseAlive(t *testing.T) {
	r := startRegister(t, register.Config{})
	a := newAnnouncer(t, 7, 300*time.Millisecond, "", r.addr) // keepalive every 100 ms
	run(t, 5*time.Second, a.Run)
	waitFor(t, 5*time.Second, "announced", a.Announced)
	// Over several TTLs the keepalives hold the entry.
	deadline := time.Now().Add(time.Second)
	for time.Now().Before(deadline) {
		if len(r.Gateways()) != 1 {
			t.Fatal("lease lapsed while the announcer runs")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestBrokenStreamKeepsEntryUntilTTL(t *testing.T) {
	store := register.NewMemoryStore()
	defer store.Close()
	r1 := startRegister(t, register.Config{Store: store})
	r2 := startRegister(t, register.Config{Store: store})
	rec := &recorder{}
	w := newWatcher(t, "", r2.addr)
	run(t, 5*time.Second, func(ctx context.Context) error { return w.Run(ctx, rec.onChange) })

	const ttl = 500 * time.Millisecond
	a := newAnnouncer(t, 3, ttl, "", r1.addr) // r1 only: no failover
	run(t, 5*time.Second, a.Run)
	waitFor(t, 5*time.Second, "watcher sees the gateway", rec.lastIs(3))

	r1.stop() // the stream breaks without leave
	broke := time.Now()
	waitFor(t, 5*time.Second, "entry expiry", rec.lastIs())
	if d := time.Since(broke); d < ttl-100*time.Millisecond {
		t.Fatalf("entry removed %v after the break, before its TTL %v", d, ttl)
	}
}

func TestFailoverBetweenRegisters(t *testing.T) {
	store := register.NewMemoryStore()
	defer store.Close()
	lisB, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gateB := &gateListener{Listener: lisB}
	rB := serveOn(t, gateB, register.Config{Store: store}) // looks down at first: everybody lands on A
	rA := startRegister(t, register.Config{Store: store})
	rec := &recorder{}
	w := newWatcher(t, "", rA.addr, rB.addr)
	run(t, 5*time.Second, func(ctx context.Context) error { return w.Run(ctx, rec.onChange) })
	a := newAnnouncer(t, 11, time.Second, "", rA.addr, rB.addr)
	run(t, 5*time.Second, a.Run)
	waitFor(t, 5*time.Second, "watcher sees the gateway", rec.lastIs(11))

	gateB.open.Store(true)
	seen := rec.calls()
	rA.stop()
	waitFor(t, 5*time.Second, "announcer re-announces to B", func() bool { return rB.announces.count() > 0 })
	waitFor(t, 5*time.Second, "announced again", a.Announced)
	waitFor(t, 5*time.Second, "watcher re-snapshots from B", func() bool { return rec.calls() > seen })
	// Well past the 1 s TTL, the gateway is still live: B holds the lease.
	deadline := time.Now().Add(1500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if len(rB.Gateways()) != 1 {
			t.Fatal("lease lapsed after failover")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got, _ := rec.last(); len(got) != 1 || rec.sawEmptyAfter(seen) {
		t.Fatalf("watcher saw the gateway vanish: last %v", got)
	}
}

func TestWrongSecretNeverAnnounced(t *testing.T) {
	r := startRegister(t, register.Config{Secret: "right"})
	a := newAnnouncer(t, 5, time.Second, "wrong", r.addr)
	run(t, 5*time.Second, a.Run)
	rec := &recorder{}
	w := newWatcher(t, "wrong", r.addr)
	run(t, 5*time.Second, func(ctx context.Context) error { return w.Run(ctx, rec.onChange) })

	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Second)
	defer cancel()
	conn, err := discovery.Dial(ctx, r.addr, "wrong")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	st, err := pb.NewRegisterClient(conn).Announce(ctx)
	if err == nil {
		_ = st.Send(&pb.AnnounceRequest{Gateway: gateway(6)})
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("announce with the wrong secret: %v, want Unauthenticated", err)
	}
	// Several retry rounds go by (backoff max 50 ms) without any success.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if a.Announced() || len(r.Gateways()) != 0 || rec.calls() != 0 {
			t.Fatalf("wrong secret got through: announced=%v set=%v watcher calls=%d", a.Announced(), r.Gateways(), rec.calls())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestAllRegistersDown(t *testing.T) {
	r := startRegister(t, register.Config{})
	a := newAnnouncer(t, 8, time.Minute, "", r.addr)
	stopA := run(t, 5*time.Second, a.Run)
	rec := &recorder{}
	w := newWatcher(t, "", r.addr)
	stopW := run(t, 5*time.Second, func(ctx context.Context) error { return w.Run(ctx, rec.onChange) })
	waitFor(t, 5*time.Second, "watcher sees the gateway", rec.lastIs(8))

	r.stop()
	waitFor(t, 5*time.Second, "announcer notices", func() bool { return !a.Announced() })
	calls := rec.calls()
	// While nothing answers, the last set stands and nothing is reported.
	deadline := time.Now().Add(300 * time.Millisecond)
	for time.Now().Before(deadline) {
		if rec.calls() != calls {
			t.Fatalf("watcher reported %v with every register down", rec.sets[calls:])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if took := stopW(); took > time.Second {
		t.Fatalf("watcher took %v to return", took)
	}
	if took := stopA(); took > time.Second {
		t.Fatalf("announcer took %v to return", took)
	}
}

func TestRunTwice(t *testing.T) {
	r := startRegister(t, register.Config{})
	a := newAnnouncer(t, 1, time.Second, "", r.addr)
	run(t, 5*time.Second, a.Run)
	waitFor(t, 5*time.Second, "announced", a.Announced)
	if err := a.Run(t.Context()); !errors.Is(err, discovery.ErrRunning) {
		t.Fatalf("second Run = %v, want ErrRunning", err)
	}
	w := newWatcher(t, "", r.addr)
	rec := &recorder{}
	run(t, 5*time.Second, func(ctx context.Context) error { return w.Run(ctx, rec.onChange) })
	waitFor(t, 5*time.Second, "snapshot", func() bool { return rec.calls() > 0 })
	if err := w.Run(t.Context(), rec.onChange); !errors.Is(err, discovery.ErrRunning) {
		t.Fatalf("second watcher Run = %v, want ErrRunning", err)
	}
}

// silentRegister answers the first announce message, then nothing.
type silentRegister struct {
	pb.UnimplementedRegisterServer
	announces atomic.Int32
}

func (s *silentRegister) Announce(st grpc.BidiStreamingServer[pb.AnnounceRequest, pb.AnnounceResponse]) error {
	s.announces.Add(1)
	if _, err := st.Recv(); err != nil {
		return err
	}
	if err := st.Send(&pb.AnnounceResponse{KeepaliveIntervalMs: 50, Register: "silent"}); err != nil {
		return err
	}
	for {
		if _, err := st.Recv(); err != nil {
			return nil
		}
	}
}

func TestAnnouncerLeavesSilentRegister(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	silent := &silentRegister{}
	pb.RegisterRegisterServer(srv, silent)
	go func() { _ = srv.Serve(lis) }()
	defer srv.Stop()

	a := newAnnouncer(t, 4, time.Second, "", lis.Addr().String())
	run(t, 5*time.Second, a.Run)
	// Answers stop after the first: the announcer gives up within a few
	// 50 ms intervals and tries again.
	waitFor(t, 3*time.Second, "announcer gives up and retries", func() bool { return silent.announces.Load() >= 3 })
}
