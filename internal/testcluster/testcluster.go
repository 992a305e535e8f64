// Package testcluster runs a gatewayworker cluster inside a test: a real register
// and real gateways on loopback, and workers, all stopped when the test ends.
// It is for the tests of this module's packages; the
// WebSocket client is the test's own.
package testcluster

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// Wait bounds every wait of the package (readiness, stop).
const Wait = 10 * time.Second

// Cluster is one register with the gateways and workers added to it.
type Cluster struct {
	tb       testing.TB
	Register string // register address
	Secret   string // cluster secret

	mu       sync.Mutex
	gateways []*Gateway
}

// Gateway is a running gateway of a Cluster.
type Gateway struct {
	*gateway.Gateway
	Name string
	WS   string // ws://host:port/ of its public listener
	stop func()
}

// Stop stops the gateway and waits for it (idempotent); it leaves the
// register.
func (g *Gateway) Stop() { g.stop() }

// NewCluster starts a register with the cluster secret.
func NewCluster(tb testing.TB, secret string) *Cluster {
	tb.Helper()
	reg, err := register.New(register.Config{Name: "bwtest", Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	lis := Listen(tb)
	run(tb, "register", func(ctx context.Context) error { return reg.Serve(ctx, lis) })
	return &Cluster{tb: tb, Register: lis.Addr().String(), Secret: secret}
}

// AddGateway starts a gateway announced to the register; mod, if not nil,
// adjusts its Config before it starts (lanAddr is the address its Link
// service will listen on).
func (c *Cluster) AddGateway(name string, mod func(cfg *gateway.Config, lanAddr string)) *Gateway {
	c.tb.Helper()
	pub, lan := Listen(c.tb), Listen(c.tb)
	cfg := gateway.Config{Name: name, Secret: c.Secret, Registers: []string{c.Register}, DrainTimeout: time.Second}
	if mod != nil {
		mod(&cfg, lan.Addr().String())
	}
	g, err := gateway.New(cfg)
	if err != nil {
		pub.Close()
		lan.Close()
		c.tb.Fatal(err)
	}
	stop := run(c.tb, "gateway "+name, func(ctx context.Context) error { return g.Serve(ctx, pub, lan) })
	out := &Gateway{Gateway: g, Name: name, WS: "ws://" + pub.Addr().String() + "/", stop: stop}
	c.mu.Lock()
	c.gateways = append(c.gateways, out)
	c.mu.Unlock()
	return out
}

// AddWorker starts a worker running h and waits until every gateway of the
// cluster routes events to it.
func (c *Cluster) AddWorker(h businessworker.Handler) *businessworker.Worker {
	c.tb.Helper()
	w, err := businessworker.New(businessworker.Config{
		Registers: []string{c.Register}, Secret: c.Secret, Name: "bwtest-worker", Handler: h, StopTimeout: 2 * time.Second,
	})
	if err != nil {
		c.tb.Fatal(err)
	}
	run(c.tb, "worker", w.Run)
	c.mu.Lock()
	gws := append([]*Gateway(nil), c.gateways...)
	c.mu.Unlock()
	WaitFor(c.tb, "worker linked to every gateway", func() bool {
		for _, g := range gws {
			if g.Stats().Workers == 0 {
				return false
			}
		}
		return true
	})
	return w
}

// Listen listens on a free loopback port; the listener is owned by whoever
// serves on it.
func Listen(tb testing.TB) net.Listener {
	tb.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	return lis
}

// WaitFor polls cond until it holds, failing the test after Wait.
func WaitFor(tb testing.TB, what string, cond func() bool) {
	tb.Helper()
	deadline := time.Now().Add(Wait)
	for !cond() {
		if time.Now().After(deadline) {
			tb.Fatalf("bwtest: timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// run runs fn until the returned stop is called or the test ends; stop
// cancels fn's ctx and waits for it, reporting its error.
func run(tb testing.TB, name string, fn func(ctx context.Context) error) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			cancel()
			select {
			case err := <-done:
				if err != nil {
					tb.Errorf("bwtest: %s: %v", name, err)
				}
			case <-time.After(Wait):
				tb.Errorf("bwtest: %s did not stop", name)
			}
		})
	}
	tb.Cleanup(stop)
	return stop
}
