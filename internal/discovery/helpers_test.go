package discovery_test

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
	"github.com/gatewayworker/gatewayworker/register"
)

// fast are backoff settings for tests.
const (
	minBo = 10 * time.Millisecond
	maxBo = 50 * time.Millisecond
)

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

// testRegister is a register served on loopback.
type testRegister struct {
	*register.Register
	addr      string
	announces *counter
	stop      func()
}

// counter counts log records with a given message.
type counter struct {
	slog.Handler
	msg string
	mu  *sync.Mutex
	n   *int
}

func (c counter) Handle(_ context.Context, r slog.Record) error {
	if r.Message == c.msg {
		c.mu.Lock()
		*c.n++
		c.mu.Unlock()
	}
	return nil
}
func (c counter) Enabled(context.Context, slog.Level) bool { return true }
func (c counter) WithAttrs([]slog.Attr) slog.Handler       { return c }
func (c counter) WithGroup(string) slog.Handler            { return c }
func (c counter) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return *c.n
}

// startRegister serves a register on a fresh loopback port.
func startRegister(t *testing.T, cfg register.Config) *testRegister {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return serveOn(t, lis, cfg)
}

// serveOn serves a register on lis.
func serveOn(t *testing.T, lis net.Listener, cfg register.Config) *testRegister {
	t.Helper()
	cnt := &counter{msg: "gateway announced", mu: new(sync.Mutex), n: new(int)}
	cfg.Logger = slog.New(cnt)
	r, err := register.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx, lis) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Serve: %v", err)
			}
		})
	}
	t.Cleanup(stop)
	return &testRegister{Register: r, addr: lis.Addr().String(), announces: cnt, stop: stop}
}

// gateListener closes every connection it accepts until opened: a register
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

// freeAddr returns a loopback address nobody listens on (for now).
func freeAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// recorder keeps every set a Watcher reports.
type recorder struct {
	mu   sync.Mutex
	sets [][]*pb.GatewayInfo
}

func (r *recorder) onChange(gws []*pb.GatewayInfo) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.sets = append(r.sets, gws)
}

// last returns the node ids of the last set, and whether there was one.
func (r *recorder) last() ([]uint64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.sets) == 0 {
		return nil, false
	}
	return ids(r.sets[len(r.sets)-1]), true
}

func (r *recorder) calls() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.sets)
}

// sawEmptyAfter reports whether a set after call n was empty.
func (r *recorder) sawEmptyAfter(n int) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, s := range r.sets[n:] {
		if len(s) == 0 {
			return true
		}
	}
	return false
}

func (r *recorder) lastIs(want ...uint64) func() bool {
	return func() bool {
		got, ok := r.last()
		return ok && slices.Equal(got, want)
	}
}

func ids(gws []*pb.GatewayInfo) []uint64 {
	out := []uint64{}
	for _, g := range gws {
		out = append(out, g.GetNodeId())
	}
	return out
}

// run starts fn in a goroutine; the returned stop cancels it and checks that
// it returned nil within d.
func run(t *testing.T, d time.Duration, fn func(context.Context) error) (stop func() time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	var took time.Duration
	stop = func() time.Duration {
		once.Do(func() {
			start := time.Now()
			cancel()
			select {
			case err := <-done:
				took = time.Since(start)
				if err != nil {
					t.Errorf("Run = %v, want nil", err)
				}
			case <-time.After(d):
				t.Fatalf("Run did not return within %v of cancel", d)
			}
		})
		return took
	}
	t.Cleanup(func() { stop() })
	return stop
}

func gateway(id uint64) *pb.GatewayInfo {
	return &pb.GatewayInfo{NodeId: id, LanAddr: "127.0.0.1:9", Name: "gw"}
}

func newAnnouncer(t *testing.T, id uint64, ttl time.Duration, secret string, regs ...string) *discovery.Announcer {
	t.Helper()
	a, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
		Registers: regs, Gateway: gateway(id), Secret: secret, TTL: ttl,
		MinBackoff: minBo, MaxBackoff: maxBo,
	})
	if err != nil {
		t.Fatal(err)
	}
	return a
}

func newWatcher(t *testing.T, secret string, regs ...string) *discovery.Watcher {
	t.Helper()
	w, err := discovery.NewWatcher(discovery.WatcherConfig{
		Registers: regs, Secret: secret, MinBackoff: minBo, MaxBackoff: maxBo,
	})
	if err != nil {
		t.Fatal(err)
	}
	return w
}
