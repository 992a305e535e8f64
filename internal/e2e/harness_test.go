package e2e

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
	"github.com/gorilla/websocket"
)

const waitFor = 10 * time.Second

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("GW_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})).With("test", t.Name())
	}
	return slog.New(slog.DiscardHandler)
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitFor)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// proc is one role running in the test process.
type proc struct {
	cancel   context.CancelFunc
	finished chan struct{}
	err      error // valid after finished is closed
}

// stop cancels the role and waits for it to return; it may be called more
// than once.
func (p *proc) stop(t *testing.T) {
	t.Helper()
	p.cancel()
	select {
	case <-p.finished:
		if p.err != nil {
			t.Errorf("stop: %v", p.err)
		}
	case <-time.After(waitFor):
		t.Errorf("stop: timed out")
	}
}

func start(t *testing.T, run func(ctx context.Context) error) *proc {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	p := &proc{cancel: cancel, finished: make(chan struct{})}
	go func() {
		p.err = run(ctx)
		close(p.finished)
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	return l
}

type cluster struct {
	t        *testing.T
	secret   string
	register string
	gateways []*gw
	workers  []*wk
}

type gw struct {
	*gateway.Gateway
	proc *proc
	ws   string // ws://host:port/
}

type wk struct {
	*businessworker.Worker
	proc *proc
	name string
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	c := &cluster{t: t, secret: "e2e-secret"}
	reg, err := register.New(register.Config{Name: "r1", Secret: c.secret, Logger: testLogger(t), MaxLeaderTTL: time.Second}) // leader lease after 1 s
	if err != nil {
		t.Fatal(err)
	}
	lis := listen(t)
	c.register = lis.Addr().String()
	start(t, func(ctx context.Context) error { return reg.Serve(ctx, lis) })
	return c
}

func (c *cluster) addGateway(name string, mod func(*gateway.Config)) *gw {
	c.t.Helper()
	cfg := gateway.Config{Name: name, Secret: c.secret, Registers: []string{c.register}, Logger: testLogger(c.t)}
	if mod != nil {
		mod(&cfg)
	}
	g, err := gateway.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	pub, lan := listen(c.t), listen(c.t)
	p := start(c.t, func(ctx context.Context) error { return g.Serve(ctx, pub, lan) })
	out := &gw{Gateway: g, proc: p, ws: "ws://" + pub.Addr().String() + "/"}
	c.gateways = append(c.gateways, out)
	return out
}

func (c *cluster) addWorker(name string, h businessworker.Handler) *wk {
	c.t.Helper()
	w, err := businessworker.New(businessworker.Config{
		Registers: []string{c.register}, Secret: c.secret, Name: name, Handler: h, Logger: testLogger(c.t),
	})
	if err != nil {
		c.t.Fatal(err)
	}
	p := start(c.t, w.Run)
	out := &wk{Worker: w, proc: p, name: name}
	c.workers = append(c.workers, out)
	return out
}

// waitLinked waits until every gateway has n workers linked.
func (c *cluster) waitLinked(n int) {
	c.t.Helper()
	eventually(c.t, fmt.Sprintf("%d workers linked to every gateway", n), func() bool {
		for _, g := range c.gateways {
			if g.proc == nil {
				continue
			}
			if g.Stats().Workers != n {
				return false
			}
		}
		return true
	})
}

// client is a WebSocket client that collects what it receives.
type client struct {
	t    *testing.T
	conn *websocket.Conn
	in   chan msg
	mu   sync.Mutex
	done chan struct{}
	err  error // read error that ended the client
}

type msg struct {
	binary bool
	data   string
}

func dial(t *testing.T, url string) *client {
	t.Helper()
	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second}
	conn, resp, err := d.Dial(url, nil)
	if err != nil {
		t.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	c := &client{t: t, conn: conn, in: make(chan msg, 1024), done: make(chan struct{})}
	go func() {
		defer close(c.done)
		for {
			typ, data, err := conn.ReadMessage()
			if err != nil {
				c.mu.Lock()
				c.err = err
				c.mu.Unlock()
				return
			}
			c.in <- msg{binary: typ == websocket.BinaryMessage, data: string(data)}
		}
	}()
	t.Cleanup(func() { conn.Close(); <-c.done })
	return c
}

func (c *client) send(s string) {
	c.t.Helper()
	if err := c.conn.WriteMessage(websocket.TextMessage, []byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

// expect waits for the next message and checks it; messages matching skip
// (e.g. timer ticks) are passed over.
func (c *client) expect(want string) {
	c.t.Helper()
	got := c.next()
	if got.data != want {
		c.t.Fatalf("got %q, want %q", got.data, want)
	}
}

func (c *client) next() msg {
	c.t.Helper()
	select {
	case m := <-c.in:
		return m
	case <-c.done:
		c.mu.Lock()
		defer c.mu.Unlock()
		c.t.Fatalf("connection ended: %v", c.err)
	case <-time.After(waitFor):
		c.t.Fatalf("no message within %v", waitFor)
	}
	return msg{}
}

// expectNothing checks that no message arrives within d.
func (c *client) expectNothing(d time.Duration) {
	c.t.Helper()
	select {
	case m := <-c.in:
		c.t.Fatalf("unexpected message %q", m.data)
	case <-time.After(d):
	}
}

// closeCode waits for the connection to end and returns the close code.
func (c *client) closeCode() int {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(waitFor):
		c.t.Fatalf("connection not closed within %v", waitFor)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	var ce *websocket.CloseError
	if errors.As(c.err, &ce) {
		return ce.Code
	}
	return -1
}

// request sends a command to the test worker and returns its reply.
func (c *client) request(cmd string) string {
	c.t.Helper()
	c.send(cmd)
	m := c.next()
	return strings.TrimPrefix(m.data, "reply: ")
}
