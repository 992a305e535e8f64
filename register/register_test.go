package register

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gatewayworker/gatewayworker/internal/auth"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// waitFor polls cond until it holds or d elapses.
func waitFor(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// serve starts r on a loopback port; the returned stop cancels Serve and
// waits for it.
func serve(t *testing.T, r *Register) (addr string, stop func()) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, lis) }()
	stopped := false
	stop = func() {
		if stopped {
			return
		}
		stopped = true
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Serve: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Fatal("Serve did not return")
		}
	}
	t.Cleanup(stop)
	return lis.Addr().String(), stop
}

func newRegister(t *testing.T, cfg Config) *Register {
	t.Helper()
	r, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func client(t *testing.T, addr, secret string) pb.RegisterClient {
	t.Helper()
	opts := []grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}
	if secret != "" {
		opts = append(opts, auth.Credentials(secret))
	}
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	return pb.NewRegisterClient(conn)
}

func has(gws []*pb.GatewayInfo, id uint64) bool {
	for _, g := range gws {
		if g.GetNodeId() == id {
			return true
		}
	}
	return false
}

// announce opens an Announce stream for gw and waits for the first answer.
func announce(t *testing.T, ctx context.Context, c pb.RegisterClient, g *pb.GatewayInfo, ttl time.Duration) (grpc.BidiStreamingClient[pb.AnnounceRequest, pb.AnnounceResponse], *pb.AnnounceResponse) {
	t.Helper()
	st, err := c.Announce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.AnnounceRequest{Gateway: g, TtlMs: uint32(ttl.Milliseconds())}); err != nil {
		t.Fatal(err)
	}
	resp, err := st.Recv()
	if err != nil {
		t.Fatal(err)
	}
	return st, resp
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]Config{
		"ttl below min":     {DefaultTTL: time.Millisecond},
		"max below default": {DefaultTTL: time.Minute, MaxTTL: time.Second},
		"negative buffer":   {WatchBuffer: -1},
		"negative shutdown": {ShutdownTimeout: -1},
		"negative interval": {KeepaliveInterval: -time.Second},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: New = %v, want ErrInvalidConfig", name, err)
		}
	}
	r, err := New(Config{})
	if err != nil {
		t.Fatalf("zero config: %v", err)
	}
	if r.cfg.Name == "" || r.cfg.DefaultTTL != DefaultLeaseTTL || r.cfg.MaxTTL != DefaultMaxTTL ||
		r.cfg.KeepaliveInterval != DefaultKeepaliveInterval || r.cfg.WatchBuffer != DefaultWatchBuffer {
		t.Fatalf("defaults not filled: %+v", r.cfg)
	}
}

func TestAnnounceLeaseAndLeave(t *testing.T) {
	r := newRegister(t, Config{Name: "r1", KeepaliveInterval: time.Second})
	addr, _ := serve(t, r)
	c := client(t, addr, "")
	ctx := t.Context()

	st, resp := announce(t, ctx, c, gw(1), 30*time.Second)
	if resp.GetRegister() != "r1" || resp.GetKeepaliveIntervalMs() != 1000 {
		t.Fatalf("answer = %v, want register r1, keepalive 1000 ms", resp)
	}
	if !has(r.Gateways(), 1) {
		t.Fatal("announced gateway not in the set")
	}
	// Keepalives are answered.
	if err := st.Send(&pb.AnnounceRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	// Leave removes at once, long before the 30 s TTL.
	if err := st.Send(&pb.AnnounceRequest{Leave: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); err != nil {
		t.Fatal(err)
	}
	if has(r.Gateways(), 1) {
		t.Fatal("gateway still in the set after leave")
	}
}

func TestShortTTLShortensKeepalive(t *testing.T) {
	r := newRegister(t, Config{})
	addr, _ := serve(t, r)
	_, resp := announce(t, t.Context(), client(t, addr, ""), gw(1), 300*time.Millisecond)
	if got := resp.GetKeepaliveIntervalMs(); got != 100 {
		t.Fatalf("keepalive = %d ms, want 100 (a third of the TTL)", got)
	}
}

func TestBrokenStreamKeepsLeaseForTTL(t *testing.T) {
	r := newRegister(t, Config{})
	addr, _ := serve(t, r)
	ctx, cancel := context.WithCancel(t.Context())
	const ttl = 400 * time.Millisecond
	announce(t, ctx, client(t, addr, ""), gw(5), ttl)
	cancel() // the stream breaks without leave
	broke := time.Now()
	waitFor(t, 5*time.Second, "lease expiry", func() bool { return !has(r.Gateways(), 5) })
	if d := time.Since(broke); d < ttl-50*time.Millisecond {
		t.Fatalf("entry removed %v after the stream broke, before its TTL %v", d, ttl)
	}
}

func TestReannounceFromAnotherStream(t *testing.T) {
	r := newRegister(t, Config{})
	addr, _ := serve(t, r)
	c := client(t, addr, "")
	old, _ := announce(t, t.Context(), c, gw(9), 10*time.Second)
	announce(t, t.Context(), c, gw(9), 10*time.Second)
	// The stale stream's leave must not remove the entry the new one holds.
	if err := old.Send(&pb.AnnounceRequest{Leave: true}); err != nil {
		t.Fatal(err)
	}
	if _, err := old.Recv(); err != nil {
		t.Fatal(err)
	}
	if !has(r.Gateways(), 9) {
		t.Fatal("stale leave removed the re-announced gateway")
	}
}

func TestAnnounceRejectsBadFirstMessage(t *testing.T) {
	r := newRegister(t, Config{})
	addr, _ := serve(t, r)
	c := client(t, addr, "")
	for name, req := range map[string]*pb.AnnounceRequest{
		"no gateway": {},
		"no node id": {Gateway: &pb.GatewayInfo{LanAddr: "x:1"}},
		"no lan":     {Gateway: &pb.GatewayInfo{NodeId: 1}},
	} {
		st, err := c.Announce(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Send(req); err != nil {
			t.Fatal(err)
		}
		if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
			t.Errorf("%s: got %v, want InvalidArgument", name, err)
		}
	}
	if len(r.Gateways()) != 0 {
		t.Fatalf("set = %v, want empty", r.Gateways())
	}
}

func TestWrongSecretRefused(t *testing.T) {
	r := newRegister(t, Config{Secret: "s3cret"})
	addr, _ := serve(t, r)
	st, err := client(t, addr, "wrong").Announce(t.Context())
	if err == nil {
		_ = st.Send(&pb.AnnounceRequest{Gateway: gw(1)})
		_, err = st.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("announce with wrong secret: %v, want Unauthenticated", err)
	}
	w, err := client(t, addr, "").Watch(t.Context(), &pb.WatchRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("watch without secret: %v, want Unauthenticated", err)
	}
	if len(r.Gateways()) != 0 {
		t.Fatal("refused gateway in the set")
	}
	announce(t, t.Context(), client(t, addr, "s3cret"), gw(2), time.Second)
	if !has(r.Gateways(), 2) {
		t.Fatal("gateway with the right secret not in the set")
	}
}

func TestWatchSnapshotThenChanges(t *testing.T) {
	r := newRegister(t, Config{})
	addr, _ := serve(t, r)
	c := client(t, addr, "")
	announce(t, t.Context(), c, gw(1), 10*time.Second)
	w, err := c.Watch(t.Context(), &pb.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := w.Recv()
	if err != nil || m.GetKind() != pb.WatchResponse_KIND_SNAPSHOT || len(m.GetGateways()) != 1 {
		t.Fatalf("first = %v, %v; want SNAPSHOT of 1", m, err)
	}
	st, _ := announce(t, t.Context(), c, gw(2), 10*time.Second)
	m, err = w.Recv()
	if err != nil || m.GetKind() != pb.WatchResponse_KIND_ADDED || m.GetGateways()[0].GetNodeId() != 2 {
		t.Fatalf("second = %v, %v; want ADDED 2", m, err)
	}
	if err := st.Send(&pb.AnnounceRequest{Leave: true}); err != nil {
		t.Fatal(err)
	}
	m, err = w.Recv()
	if err != nil || m.GetKind() != pb.WatchResponse_KIND_REMOVED || m.GetGateways()[0].GetNodeId() != 2 {
		t.Fatalf("third = %v, %v; want REMOVED 2", m, err)
	}
}

func TestServeStopsWithOpenStreams(t *testing.T) {
	r := newRegister(t, Config{})
	addr, stop := serve(t, r)
	c := client(t, addr, "")
	st, _ := announce(t, t.Context(), c, gw(1), 10*time.Second)
	w, err := c.Watch(t.Context(), &pb.WatchRequest{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Recv(); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	stop()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("Serve took %v to stop", d)
	}
	if _, err := st.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("announce stream after stop: %v, want Unavailable", err)
	}
	if _, err := w.Recv(); status.Code(err) != codes.Unavailable {
		t.Fatalf("watch stream after stop: %v, want Unavailable", err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if err := r.Serve(t.Context(), lis); !errors.Is(err, ErrServed) {
		t.Fatalf("second Serve = %v, want ErrServed", err)
	}
}
