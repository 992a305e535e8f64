package e2e

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
)

// addWorkerWith starts a worker whose Config mod adjusts, exporting its
// metrics to the returned registry.
func (c *cluster) addWorkerWith(name string, h businessworker.Handler, mod func(*businessworker.Config)) (*wk, *prometheus.Registry) {
	c.t.Helper()
	reg := prometheus.NewRegistry()
	cfg := businessworker.Config{
		Registers: []string{c.register}, Secret: c.secret, Name: name, Handler: h, Logger: testLogger(c.t),
		StopTimeout: 2 * time.Second, Metrics: reg,
	}
	if mod != nil {
		mod(&cfg)
	}
	w, err := businessworker.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	out := &wk{Worker: w, proc: start(c.t, w.Run), name: name}
	c.workers = append(c.workers, out)
	return out, reg
}

// metric returns the value of a gauge or counter without labels.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if g := m.GetGauge(); g != nil {
			return g.GetValue()
		}
		return m.GetCounter().GetValue()
	}
	t.Fatalf("no metric %s", name)
	return 0
}

const clientStates = "gatewayworker_worker_client_states"

// A worker remembers each client it got a connect of; when a second worker
// joins, the clients the gateway now routes to it are forgotten by the
// first, and once every client closed both remember none.
func TestStateWorkerForgetsClientsAfterAnotherJoins(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("g", nil)
	_, regA := c.addWorkerWith("A", &cmdHandler{name: "A"}, nil)
	c.waitLinked(1)
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, g.ws)
		if r := clients[i].request("set k v"); r != "ok" {
			t.Fatalf("set: %q", r)
		}
	}
	if got := metric(t, regA, clientStates); got != n {
		t.Fatalf("A remembers %v clients, want %d", got, n)
	}
	_, regB := c.addWorkerWith("B", &cmdHandler{name: "B"}, nil)
	c.waitLinked(2)
	// A forgets the clients that moved to B (within the sweep interval).
	eventually(t, "A forgets the clients routed to B", func() bool { return metric(t, regA, clientStates) < n })
	byB := 0
	for _, cl := range clients {
		if r := cl.request("who"); r == "B" {
			byB++
		}
		if r := cl.request("set k2 v"); r != "ok" { // a write-back on B too
			t.Fatalf("set: %q", r)
		}
	}
	if byB == 0 || byB == n {
		t.Fatalf("%d of %d clients on B: the test needs both workers used", byB, n)
	}
	for _, cl := range clients {
		cl.conn.Close()
	}
	eventually(t, "both workers remember no client", func() bool {
		return metric(t, regA, clientStates) == 0 && metric(t, regB, clientStates) == 0
	})
}

// A gateway dies as far as the worker can tell (its LAN side is cut, so
// no close event comes, then it leaves the register): the worker forgets
// its clients and sends to them fail at once with ErrGatewayNotLinked. While
// it is cut, a query for one of its clients times out and says so.
func TestStateGatewayGoneClientsForgottenSendsFail(t *testing.T) {
	c := newCluster(t)
	lan := listen(t)
	proxy := newPartitionProxy(t, lan.Addr().String())
	g1 := c.addGatewayOn("g1", lan, func(cfg *gateway.Config) { cfg.AdvertiseLAN = proxy.addr(); cfg.DrainTimeout = time.Second })
	g2 := c.addGateway("g2", nil)
	w, reg := c.addWorkerWith("w", &cmdHandler{name: "w"}, nil)
	c.waitLinked(1)
	var gone []string
	for range 3 {
		a := dial(t, g1.ws)
		gone = append(gone, a.request("id"))
		dial(t, g2.ws).request("id")
	}
	if got := metric(t, reg, clientStates); got != 6 {
		t.Fatalf("worker remembers %v clients, want 6", got)
	}
	ctx := context.Background()
	if s, err := w.Session(ctx, gone[0]); err != nil || len(s) != 0 {
		t.Fatalf("GetSession before the cut: %v, %v", s, err)
	}

	proxy.partition()
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	_, err := w.Session(qctx, gone[0])
	cancel()
	var ge *businessworker.GatewayError
	if !errors.Is(err, context.DeadlineExceeded) || !errors.As(err, &ge) || ge.Node != g1.NodeID() || errors.Is(err, businessworker.ErrClientNotFound) {
		t.Fatalf("GetSession of a cut gateway's client: %v; want a timeout naming g1", err)
	}

	g1.proc.stop(t)
	eventually(t, "g1 left the worker's set", func() bool {
		_, err := w.Session(ctx, gone[0])
		return errors.Is(err, businessworker.ErrGatewayNotLinked)
	})
	eventually(t, "g1's clients forgotten", func() bool { return metric(t, reg, clientStates) == 3 })
	start := time.Now()
	err = w.SendToClient(ctx, gone[1], businessworker.Text("hello?"))
	if !errors.Is(err, businessworker.ErrGatewayNotLinked) || !errors.As(err, &ge) || ge.Node != g1.NodeID() {
		t.Fatalf("send to a client of a gone gateway: %v, want ErrGatewayNotLinked naming g1", err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("send to a client of a gone gateway took %v", d)
	}
	if _, err := w.UID(ctx, gone[2]); !errors.Is(err, businessworker.ErrGatewayNotLinked) || errors.Is(err, businessworker.ErrClientNotFound) {
		t.Fatalf("UID of a gone gateway's client: %v", err)
	}
}

// bounceProxy forwards TCP connections to a target until taken down: then
// it closes every connection and refuses new ones at once (a gateway whose
// process is alive and listed, but unreachable), until brought up again.
type bounceProxy struct {
	lis    net.Listener
	target string
	down   atomic.Bool
	wg     sync.WaitGroup

	mu    sync.Mutex
	conns map[net.Conn]struct{}
}

func newBounceProxy(t *testing.T, target string) *bounceProxy {
	t.Helper()
	p := &bounceProxy{lis: listen(t), target: target, conns: map[net.Conn]struct{}{}}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		p.lis.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *bounceProxy) addr() string { return p.lis.Addr().String() }

func (p *bounceProxy) takeDown() { p.down.Store(true); p.closeAll() }
func (p *bounceProxy) bringUp()  { p.down.Store(false) }

func (p *bounceProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for c := range p.conns {
		c.Close()
	}
	clear(p.conns)
}

func (p *bounceProxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		if p.down.Load() {
			c.Close()
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns[c], p.conns[up] = struct{}{}, struct{}{}
		p.mu.Unlock()
		pipe := func(dst, src net.Conn) {
			_, _ = io.Copy(dst, src)
			dst.Close()
			src.Close()
		}
		p.wg.Go(func() { pipe(up, c) })
		p.wg.Go(func() { pipe(c, up) })
	}
}

// Commands for a gateway that is listed but unreachable are queued; those
// older than MaxQueueAge when it comes back are dropped and counted, not
// replayed. Queries meanwhile fail with ErrLinkDown.
func TestStateStaleCommandsNotReplayed(t *testing.T) {
	c := newCluster(t)
	lan := listen(t)
	proxy := newBounceProxy(t, lan.Addr().String())
	g := c.addGatewayOn("g", lan, func(cfg *gateway.Config) { cfg.AdvertiseLAN = proxy.addr() })
	const maxAge = 500 * time.Millisecond
	w, reg := c.addWorkerWith("w", &cmdHandler{name: "w"}, func(cfg *businessworker.Config) { cfg.MaxQueueAge = maxAge })
	c.waitLinked(1)
	a := dial(t, g.ws)
	id := a.request("id")
	ctx := context.Background()

	proxy.takeDown()
	eventually(t, "the worker sees the link down", func() bool {
		_, err := w.Session(ctx, id)
		return errors.Is(err, businessworker.ErrLinkDown)
	})
	if err := w.SendToClient(ctx, id, businessworker.Text("stale")); err != nil {
		t.Fatalf("send while the link is down: %v (want queued)", err)
	}
	queued := time.Now()
	// Keep the gateway down until the command is older than MaxQueueAge.
	for time.Since(queued) <= maxAge+100*time.Millisecond {
		time.Sleep(20 * time.Millisecond)
	}
	proxy.bringUp()
	eventually(t, "relinked", func() bool {
		qctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		_, err := w.Session(qctx, id)
		return err == nil
	})
	if err := w.SendToClient(ctx, id, businessworker.Text("fresh")); err != nil {
		t.Fatal(err)
	}
	// Commands to one client keep their order: "stale" would come first.
	a.expect("fresh")
	if got := metric(t, reg, "gatewayworker_worker_commands_expired_total"); got != 1 {
		t.Fatalf("commands_expired_total = %v, want 1", got)
	}
}

// gatedStart is a worker whose OnWorkerStart uses the API, then blocks
// until released.
type gatedStart struct {
	cmdHandler
	started, release chan struct{}
	count            int
	countErr         error
}

func (h *gatedStart) OnWorkerStart(ctx context.Context, w *businessworker.Worker) {
	h.cmdHandler.OnWorkerStart(ctx, w)
	qctx, cancel := context.WithTimeout(ctx, waitFor)
	h.count, h.countErr = w.CountClients(qctx)
	cancel()
	close(h.started)
	select {
	case <-h.release:
	case <-time.After(3 * waitFor):
	}
}

// A worker takes no events before its OnWorkerStart returns: meanwhile the
// gateway routes every client to the workers already running (and the
// starting one can use the API); afterwards it gets its share.
func TestStateNoEventsBeforeWorkerStartReturns(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("g", nil)
	c.addWorker("A", &cmdHandler{name: "A"})
	c.waitLinked(1)
	const n = 20
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, g.ws)
		clients[i].request("who")
	}
	h := &gatedStart{cmdHandler: cmdHandler{name: "B"}, started: make(chan struct{}), release: make(chan struct{})}
	c.addWorkerWith("B", h, nil)
	select {
	case <-h.started:
	case <-time.After(waitFor):
		t.Fatal("OnWorkerStart not called")
	}
	if h.countErr != nil || h.count != n {
		t.Fatalf("API from OnWorkerStart: %d, %v; want %d", h.count, h.countErr, n)
	}
	eventually(t, "the starting worker linked as a push client", func() bool { return g.Stats().PushClients >= 1 })
	if st := g.Stats(); st.Workers != 1 {
		t.Fatalf("gateway routes to %d workers while B starts, want 1", st.Workers)
	}
	for round := range 3 {
		for i, cl := range clients {
			if r := cl.request("who"); r != "A" {
				t.Fatalf("round %d, client %d answered by %q while B starts", round, i, r)
			}
		}
	}
	close(h.release)
	c.waitLinked(2)
	byB := 0
	for _, cl := range clients {
		if cl.request("who") == "B" {
			byB++
		}
	}
	if byB == 0 {
		t.Fatalf("no client routed to B after its start (of %d)", n)
	}
	t.Logf("%d of %d clients on B after its start", byB, n)
}

// A query for a client a live gateway does not have is ErrClientNotFound
// (and nothing else); sends to such a client succeed (the gateway skips
// them).
func TestStateClientNotFoundKind(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("g", nil)
	w := c.addWorker("w", &cmdHandler{name: "w"})
	c.waitLinked(1)
	a := dial(t, g.ws)
	id := a.request("id")
	ctx := context.Background()
	unknown := fmt.Sprintf("%s%016x", g.NodeID(), uint64(1<<40))
	if _, err := w.Session(ctx, unknown); !errors.Is(err, businessworker.ErrClientNotFound) || errors.Is(err, businessworker.ErrGatewayNotLinked) {
		t.Fatalf("GetSession of an unknown client: %v", err)
	}
	if _, err := w.UID(ctx, unknown); !errors.Is(err, businessworker.ErrClientNotFound) {
		t.Fatalf("UID of an unknown client: %v", err)
	}
	if err := w.SendToClient(ctx, unknown, businessworker.Text("x")); err != nil {
		t.Fatalf("send to an unknown client of a live gateway: %v (want nil: skipped)", err)
	}
	if s, err := w.Session(ctx, id); err != nil || s == nil {
		t.Fatalf("GetSession of a live client: %v, %v", s, err)
	}
}

// A client that sends nothing for ClientIdleTimeout is forgotten though
// still connected; its next event is handled as usual.
func TestStateIdleClientForgotten(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("g", nil)
	_, reg := c.addWorkerWith("w", &cmdHandler{name: "w"}, func(cfg *businessworker.Config) { cfg.ClientIdleTimeout = 300 * time.Millisecond })
	c.waitLinked(1)
	a := dial(t, g.ws)
	if r := a.request("set k v"); r != "ok" {
		t.Fatalf("set: %q", r)
	}
	eventually(t, "idle client forgotten", func() bool { return metric(t, reg, clientStates) == 0 })
	if r := a.request("get k"); r != "v" {
		t.Fatalf("session after the worker forgot the client: %q", r)
	}
}
