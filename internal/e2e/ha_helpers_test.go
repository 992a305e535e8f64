package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// Environment of the worker process started by startWorkerProcess.
const (
	envHelperRegisters = "GW_HA_HELPER_REGISTERS"
	envHelperName      = "GW_HA_HELPER_NAME"
	envHelperDelay     = "GW_HA_HELPER_DELAY"
	helperSecret       = "e2e-secret"
)

// echoHandler answers every text message m with "<name> m" to its sender,
// after sleeping delay (so that events are in hand when a test strikes).
type echoHandler struct {
	businessworker.BaseHandler
	name  string
	delay time.Duration
}

func (h *echoHandler) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, m := e.Client, e.Message
	if h.delay > 0 {
		time.Sleep(h.delay)
	}
	_ = c.Send(ctx, businessworker.Text(h.name+" "+string(m.Data)))
}

// TestHAHelperWorker is not a test: it is the body of the worker processes
// of the HA tests (the test binary runs itself with -test.run). It runs an
// echoHandler worker until SIGTERM, or until it is killed.
func TestHAHelperWorker(t *testing.T) {
	regs := os.Getenv(envHelperRegisters)
	if regs == "" {
		t.Skip("helper process of the HA tests")
	}
	delay, _ := time.ParseDuration(os.Getenv(envHelperDelay))
	name := os.Getenv(envHelperName)
	w, err := businessworker.New(businessworker.Config{
		Registers: strings.Split(regs, ","),
		Secret:    helperSecret,
		Name:      name,
		Handler:   &echoHandler{name: name, delay: delay},
		Logger:    testLogger(t),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// workerProcess is an echoHandler worker running in its own process.
type workerProcess struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}
}

// startWorkerProcess starts an echo worker process linked through regs.
func startWorkerProcess(t *testing.T, name string, delay time.Duration, regs ...string) *workerProcess {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestHAHelperWorker$", "-test.count=1")
	cmd.Env = append(os.Environ(),
		envHelperRegisters+"="+strings.Join(regs, ","), envHelperName+"="+name, envHelperDelay+"="+delay.String())
	p := &workerProcess{cmd: cmd, out: new(syncBuffer), done: make(chan struct{})}
	cmd.Stdout, cmd.Stderr = p.out, p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = cmd.Wait(); close(p.done) }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("worker process %s output:\n%s", name, p.out)
		}
	})
	return p
}

// kill ends the process with SIGKILL: no drain, no goodbye, events in hand lost.
func (p *workerProcess) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// cpuTime returns the user+system CPU time the process used so far.
func (p *workerProcess) cpuTime(t *testing.T) time.Duration {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
	if err != nil {
		t.Skipf("no /proc: %v", err)
	}
	// Fields after the command name (which may hold spaces) start at field 3.
	f := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		t.Fatalf("parse /proc stat: %v %v", err1, err2)
	}
	const clockTicks = 100 // USER_HZ on Linux
	return time.Duration(utime+stime) * time.Second / clockTicks
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// registerNode is one register of a cluster running in the test process.
type registerNode struct {
	*register.Register
	store *register.ClusterStore
	addr  string // gRPC
	proc  *proc
}

// startRegister starts a register on addr ("127.0.0.1:0": any port) whose
// cluster store joins join.
func startRegister(t *testing.T, name, addr string, join ...string) *registerNode {
	t.Helper()
	store, err := register.NewClusterStore(register.ClusterConfig{
		Name: name, BindAddr: "127.0.0.1:0", Join: join, SecretKey: register.KeyFromSecret(helperSecret),
		GossipInterval: 50 * time.Millisecond, ProbeInterval: 200 * time.Millisecond,
		Logger: testLogger(t).With("register", name),
	})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := register.New(register.Config{Name: name, Secret: helperSecret, Store: store, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	n := &registerNode{Register: reg, store: store, addr: lis.Addr().String()}
	n.proc = start(t, func(ctx context.Context) error {
		err := reg.Serve(ctx, lis)
		store.Close()
		return err
	})
	return n
}

// echoClient is a WebSocket client that sends numbered messages and records
// which it got back, and from which worker.
type echoClient struct {
	*client
	name string

	mu      sync.Mutex
	sent    int
	got     map[int]int    // message number -> times echoed
	by      map[string]int // worker -> echoes
	firstBy map[string]time.Time
	wake    chan struct{}
}

func newEchoClient(t *testing.T, url, name string) *echoClient {
	t.Helper()
	c := &echoClient{client: dial(t, url), name: name, got: map[int]int{}, by: map[string]int{},
		firstBy: map[string]time.Time{}, wake: make(chan struct{}, 1)}
	go c.collect()
	return c
}

// collect records the echoes until the connection ends.
func (c *echoClient) collect() {
	for {
		var m msg
		select {
		case m = <-c.in:
		case <-c.done:
			return
		}
		// "<worker> <client> <n>"
		f := strings.Fields(m.data)
		if len(f) != 3 || f[1] != c.name {
			continue
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		c.mu.Lock()
		c.got[n]++
		c.by[f[0]]++
		if _, ok := c.firstBy[f[0]]; !ok {
			c.firstBy[f[0]] = time.Now()
		}
		c.mu.Unlock()
		select {
		case c.wake <- struct{}{}:
		default:
		}
	}
}

// sendNext sends the next numbered message.
func (c *echoClient) sendNext() error {
	c.mu.Lock()
	n := c.sent
	c.sent++
	c.mu.Unlock()
	return c.conn.WriteMessage(1, []byte(c.name+" "+strconv.Itoa(n)))
}

// missing returns the numbers sent but never echoed, and the duplicates.
func (c *echoClient) missing() (lost []int, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := 0; n < c.sent; n++ {
		switch k := c.got[n]; {
		case k == 0:
			lost = append(lost, n)
		case k > 1:
			dups += k - 1
		}
	}
	return lost, dups
}

func (c *echoClient) workers() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.by))
	for k, v := range c.by {
		out[k] = v
	}
	return out
}

// chatter makes clients send a numbered message each every period until
// stopped.
type chatter struct {
	stop chan struct{}
	wg   sync.WaitGroup
	errs atomic.Int64
}

func startChatter(clients []*echoClient, period time.Duration) *chatter {
	ch := &chatter{stop: make(chan struct{})}
	for _, c := range clients {
		ch.wg.Go(func() {
			tick := time.NewTicker(period)
			defer tick.Stop()
			for {
				select {
				case <-ch.stop:
					return
				case <-tick.C:
					if err := c.sendNext(); err != nil {
						ch.errs.Add(1)
						return
					}
				}
			}
		})
	}
	return ch
}

// halt stops the senders; it may be called more than once.
func (ch *chatter) halt() {
	select {
	case <-ch.stop:
	default:
		close(ch.stop)
	}
	ch.wg.Wait()
}

// waitAllEchoed waits until every message sent was echoed at least once and
// returns the total sent and duplicates; it fails the test with the missing
// numbers otherwise.
func waitAllEchoed(t *testing.T, clients []*echoClient, within time.Duration) (sent, dups int) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		sent, dups = 0, 0
		var report []string
		for _, c := range clients {
			lost, d := c.missing()
			c.mu.Lock()
			sent += c.sent
			c.mu.Unlock()
			dups += d
			if len(lost) > 0 {
				report = append(report, fmt.Sprintf("%s lost %d: %v", c.name, len(lost), head(lost, 10)))
			}
		}
		if len(report) == 0 {
			return sent, dups
		}
		if time.Now().After(deadline) {
			t.Fatalf("messages lost (of %d sent):\n%s", sent, strings.Join(report, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func head(s []int, n int) []int { return s[:min(n, len(s))] }

// partitionProxy forwards TCP connections to a target until partitioned:
// then it forwards nothing in either direction and keeps every socket open,
// as a network partition does (no FIN, no RST), until healed.
type partitionProxy struct {
	lis    net.Listener
	target string
	cut    atomic.Bool
	wg     sync.WaitGroup

	mu     sync.Mutex
	conns  []net.Conn
	closed bool
}

func newPartitionProxy(t *testing.T, target string) *partitionProxy {
	t.Helper()
	p := &partitionProxy{lis: listen(t), target: target}
	p.wg.Go(p.accept)
	t.Cleanup(p.close)
	return p
}

func (p *partitionProxy) addr() string { return p.lis.Addr().String() }

func (p *partitionProxy) partition() { p.cut.Store(true) }
func (p *partitionProxy) heal()      { p.cut.Store(false) }

func (p *partitionProxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		if !p.track(c) {
			return
		}
		if p.cut.Load() { // a dial into the partition hangs
			continue
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		if !p.track(up) {
			return
		}
		p.wg.Go(func() { p.pipe(up, c) })
		p.wg.Go(func() { p.pipe(c, up) })
	}
}

// track records c for close; false when the proxy is closed.
func (p *partitionProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns = append(p.conns, c)
	return true
}

// pipe copies src to dst, dropping what it reads while partitioned.
func (p *partitionProxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && !p.cut.Load() {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				break
			}
		}
		if err != nil {
			break
		}
	}
	if !p.cut.Load() {
		dst.Close()
	}
	_, _ = io.Copy(io.Discard, src)
}

func (p *partitionProxy) close() {
	p.lis.Close()
	p.mu.Lock()
	conns := p.conns
	p.conns, p.closed = nil, true
	p.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
	p.wg.Wait()
}

// addGatewayOn is addGateway with the LAN listener given.
func (c *cluster) addGatewayOn(name string, lan net.Listener, mod func(*gateway.Config)) *gw {
	c.t.Helper()
	cfg := gateway.Config{Name: name, Secret: c.secret, Registers: []string{c.register}, Logger: testLogger(c.t)}
	if mod != nil {
		mod(&cfg)
	}
	g, err := gateway.New(cfg)
	if err != nil {
		c.t.Fatal(err)
	}
	pub := listen(c.t)
	p := start(c.t, func(ctx context.Context) error { return g.Serve(ctx, pub, lan) })
	out := &gw{Gateway: g, proc: p, ws: "ws://" + pub.Addr().String() + "/"}
	c.gateways = append(c.gateways, out)
	return out
}

// stableAddr returns a free loopback address below the ephemeral port range,
// so that no outgoing connection takes its port while its owner is down and
// a restarted register can listen on it again.
func stableAddr(t *testing.T) string {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(10000)
		l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			l.Close()
			return l.Addr().String()
		}
	}
	t.Fatal("no free port in 20000-29999")
	return ""
}
