package businessworker

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// cluster is a real register and gateway on loopback.
type cluster struct {
	t        *testing.T
	register string // register address
	public   string // gateway WebSocket address
	gw       *gateway.Gateway
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return lis
}

// serve runs fn until the test ends (cancel, then wait).
func serve(t *testing.T, name string, fn func(ctx context.Context) error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- fn(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("%s: %v", name, err)
			}
		case <-time.After(15 * time.Second):
			t.Errorf("%s did not stop", name)
		}
	})
}

func startCluster(t *testing.T) *cluster {
	t.Helper()
	reg, err := register.New(register.Config{Secret: "s3cret", MaxLeaderTTL: time.Second}) // leader lease grants after 1 s
	if err != nil {
		t.Fatal(err)
	}
	rl := listen(t)
	serve(t, "register", func(ctx context.Context) error { return reg.Serve(ctx, rl) })

	gw, err := gateway.New(gateway.Config{Secret: "s3cret", Registers: []string{rl.Addr().String()}, DrainTimeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	pub, lan := listen(t), listen(t)
	serve(t, "gateway", func(ctx context.Context) error { return gw.Serve(ctx, pub, lan) })
	return &cluster{t: t, register: rl.Addr().String(), public: pub.Addr().String(), gw: gw}
}

// worker starts a worker linked to the cluster and waits until the gateway
// routes events to it. It stops when the test ends.
func (c *cluster) worker(h Handler) *Worker {
	c.t.Helper()
	w, _ := c.stoppableWorker(h, 2*time.Second)
	return w
}

// stoppableWorker is worker with a stop func (idempotent; waits for Run).
func (c *cluster) stoppableWorker(h Handler, stopTimeout time.Duration) (*Worker, func()) {
	c.t.Helper()
	w, err := New(Config{Registers: []string{c.register}, Secret: "s3cret", Handler: h, StopTimeout: stopTimeout})
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	var once sync.Once
	stop := func() {
		once.Do(func() {
			cancel()
			if err := <-done; err != nil {
				c.t.Errorf("worker Run: %v", err)
			}
		})
	}
	c.t.Cleanup(stop)
	waitUntil(c.t, "worker linked", func() bool { return slices.Contains(w.l.Workers(), w.ID()) })
	return w, stop
}

// dial connects a WebSocket client; it is closed when the test ends.
func (c *cluster) dial(path string) *websocket.Conn {
	c.t.Helper()
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+c.public+path, nil)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { _ = ws.Close() })
	return ws
}

func read(t *testing.T, ws *websocket.Conn) string {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := ws.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func write(t *testing.T, ws *websocket.Conn, s string) {
	t.Helper()
	if err := ws.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		t.Fatal(err)
	}
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
