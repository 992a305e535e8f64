package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
)

// The delivery tests run the gateway and the workers as processes of their
// own (the test binary re-run as TestDeliveryHelper), so that the memory of
// each is measured apart from the clients', and a worker can be SIGKILLed.
// `make delivery-full` runs them at the sizes of the issue
// (GW_DELIVERY_FULL=1); `make test` runs them scaled down.

// Environment of the delivery helper processes.
const (
	envDeliveryRole     = "GW_DELIVERY_ROLE" // gateway or worker
	envDeliveryRegister = "GW_DELIVERY_REGISTER"
	envDeliveryPublic   = "GW_DELIVERY_PUBLIC"
	envDeliveryLAN      = "GW_DELIVERY_LAN"
	envDeliveryName     = "GW_DELIVERY_NAME"
	envDeliveryDelay    = "GW_DELIVERY_DELAY" // handler time per message
	envDeliveryStuck    = "GW_DELIVERY_STUCK" // how long a "stuck" message blocks
	envDeliveryFull     = "GW_DELIVERY_FULL"
	deliveryStatsPrefix = "DELIVERY-STATS "
)

// TestDeliveryHelper is not a test: it is the body of the gateway and
// worker processes of the delivery tests.
func TestDeliveryHelper(t *testing.T) {
	role := os.Getenv(envDeliveryRole)
	if role == "" {
		t.Skip("helper process of the delivery tests")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	regs := []string{os.Getenv(envDeliveryRegister)}
	name := os.Getenv(envDeliveryName)
	switch role {
	case "gateway":
		g, err := gateway.New(gateway.Config{Name: name, Secret: helperSecret, Registers: regs, Logger: testLogger(t)})
		if err != nil {
			t.Fatal(err)
		}
		pub, err := net.Listen("tcp", os.Getenv(envDeliveryPublic))
		if err != nil {
			t.Fatal(err)
		}
		lan, err := net.Listen("tcp", os.Getenv(envDeliveryLAN))
		if err != nil {
			t.Fatal(err)
		}
		// Stats every 100 ms on stdout, for the test to follow.
		go func() {
			for range time.Tick(100 * time.Millisecond) {
				b, _ := json.Marshal(g.Stats())
				fmt.Printf("%s%s\n", deliveryStatsPrefix, b)
			}
		}()
		if err := g.Serve(ctx, pub, lan); err != nil {
			t.Fatal(err)
		}
	case "worker":
		delay, _ := time.ParseDuration(os.Getenv(envDeliveryDelay))
		stuck, _ := time.ParseDuration(os.Getenv(envDeliveryStuck))
		w, err := businessworker.New(businessworker.Config{
			Registers: regs, Secret: helperSecret, Name: name,
			Handler:     &deliveryHandler{name: name, delay: delay, stuck: stuck},
			SlowHandler: time.Second,
			Logger:      slogToStderr(),
		})
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
}

// deliveryHandler answers "<client> <n> <padding>" with "<worker> <client>
// <n>" to the sender, after delay; the first message of the client
// "stuck" holds its handler for the stuck time instead.
type deliveryHandler struct {
	businessworker.BaseHandler
	name         string
	delay, stuck time.Duration
}

func (h *deliveryHandler) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, m := e.Client, e.Message
	f := strings.SplitN(string(m.Data), " ", 3)
	if len(f) < 2 {
		return
	}
	d := h.delay
	if f[0] == "stuck" && f[1] == "0" {
		d = h.stuck
	}
	if d > 0 {
		select {
		case <-time.After(d):
		case <-ctx.Done():
			return
		}
	}
	_ = c.Send(ctx, businessworker.Text(h.name+" "+f[0]+" "+f[1]))
}

// deliveryProc is a helper process of the delivery tests.
type deliveryProc struct {
	cmd  *exec.Cmd
	out  *syncBuffer
	done chan struct{}

	mu    sync.Mutex
	stats gateway.Stats // the gateway's last stats line
}

func startDeliveryProc(t *testing.T, env ...string) *deliveryProc {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestDeliveryHelper$", "-test.count=1")
	cmd.Env = append(os.Environ(), env...)
	p := &deliveryProc{cmd: cmd, out: new(syncBuffer), done: make(chan struct{})}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = p.out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			line := sc.Text()
			if s, ok := strings.CutPrefix(line, deliveryStatsPrefix); ok {
				var st gateway.Stats
				if json.Unmarshal([]byte(s), &st) == nil {
					p.mu.Lock()
					p.stats = st
					p.mu.Unlock()
				}
				continue
			}
			_, _ = p.out.Write([]byte(line + "\n"))
		}
		_ = cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("process %v output:\n%s", env, p.out)
		}
	})
	return p
}

func (p *deliveryProc) gatewayStats() gateway.Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.stats
}

func (p *deliveryProc) kill(t *testing.T) {
	t.Helper()
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	<-p.done
}

// rss returns the process's resident set size.
func (p *deliveryProc) rss() int64 {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", p.cmd.Process.Pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// deliveryCluster is a register (in the test process), one gateway process
// and worker processes.
type deliveryCluster struct {
	t       *testing.T
	reg     string
	gw      *deliveryProc
	ws      string
	workers map[string]*deliveryProc
}

func newDeliveryCluster(t *testing.T, delay, stuck time.Duration, workers ...string) *deliveryCluster {
	t.Helper()
	c := newCluster(t)
	dc := &deliveryCluster{t: t, reg: c.register, workers: map[string]*deliveryProc{}}
	pub, lan := stableAddr(t), stableAddr(t)
	dc.gw = startDeliveryProc(t, envDeliveryRole+"=gateway", envDeliveryRegister+"="+c.register,
		envDeliveryName+"=g1", envDeliveryPublic+"="+pub, envDeliveryLAN+"="+lan)
	dc.ws = "ws://" + pub + "/"
	for _, name := range workers {
		dc.workers[name] = startDeliveryProc(t, envDeliveryRole+"=worker", envDeliveryRegister+"="+c.register,
			envDeliveryName+"="+name, envDeliveryDelay+"="+delay.String(), envDeliveryStuck+"="+stuck.String())
	}
	eventually(t, "workers linked to the gateway process", func() bool {
		return dc.gw.gatewayStats().Workers == len(workers)
	})
	return dc
}

// rss is the summed RSS of the gateway and worker processes.
func (dc *deliveryCluster) rss() int64 {
	n := dc.gw.rss()
	for _, w := range dc.workers {
		n += w.rss()
	}
	return n
}

// burstClient sends numbered messages as fast as it can and checks the
// echoes: each at least once, and in order unless a worker crashed.
type burstClient struct {
	name string
	conn *websocket.Conn

	mu       sync.Mutex
	sent     int
	got      map[int]int
	last     int // highest n echoed so far
	disorder int // echoes of n below the highest seen (first time seen)
	byWorker map[string]int
	closeErr error
	done     chan struct{}
}

func newBurstClient(t *testing.T, url, name string) *burstClient {
	t.Helper()
	conn, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	c := &burstClient{name: name, conn: conn, got: map[int]int{}, last: -1, byWorker: map[string]int{}, done: make(chan struct{})}
	go c.read()
	t.Cleanup(func() { _ = conn.Close(); <-c.done })
	return c
}

func (c *burstClient) read() {
	defer close(c.done)
	for {
		_, data, err := c.conn.ReadMessage()
		if err != nil {
			c.mu.Lock()
			c.closeErr = err
			c.mu.Unlock()
			return
		}
		f := strings.Fields(string(data))
		if len(f) != 3 || f[1] != c.name {
			continue
		}
		n, err := strconv.Atoi(f[2])
		if err != nil {
			continue
		}
		c.mu.Lock()
		if c.got[n] == 0 && n < c.last {
			c.disorder++
		}
		c.got[n]++
		c.last = max(c.last, n)
		c.byWorker[f[0]]++
		c.mu.Unlock()
	}
}

// burst sends n messages of size bytes as fast as the socket takes them.
func (c *burstClient) burst(n, size int) error {
	pad := strings.Repeat("x", max(0, size-len(c.name)-12))
	for range n {
		c.mu.Lock()
		i := c.sent
		c.sent++
		c.mu.Unlock()
		if err := c.conn.WriteMessage(websocket.TextMessage, []byte(c.name+" "+strconv.Itoa(i)+" "+pad)); err != nil {
			return err
		}
	}
	return nil
}

// echoed reports how many distinct messages were echoed, and duplicates.
func (c *burstClient) echoed() (distinct, dups int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for n := range c.sent {
		if k := c.got[n]; k > 0 {
			distinct++
			dups += k - 1
		}
	}
	return distinct, dups
}

func (c *burstClient) lost() []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for n := range c.sent {
		if c.got[n] == 0 {
			out = append(out, n)
		}
	}
	return out
}

// waitAllSent waits until each client has sent n messages (the gateway
// read them).
func waitAllSent(t *testing.T, clients []*burstClient, n int) {
	t.Helper()
	eventually(t, "every message sent", func() bool {
		for _, c := range clients {
			c.mu.Lock()
			sent := c.sent
			c.mu.Unlock()
			if sent < n {
				return false
			}
		}
		return true
	})
}

// waitEchoed waits until every client's messages were all echoed, failing
// with the missing ones after within.
func waitEchoed(t *testing.T, clients []*burstClient, within time.Duration) {
	t.Helper()
	deadline := time.Now().Add(within)
	for {
		missing := 0
		for _, c := range clients {
			missing += len(c.lost())
		}
		if missing == 0 {
			return
		}
		if time.Now().After(deadline) {
			var report []string
			for _, c := range clients {
				if l := c.lost(); len(l) > 0 {
					c.mu.Lock()
					err := c.closeErr
					c.mu.Unlock()
					report = append(report, fmt.Sprintf("%s: %d lost, first %v (read error %v)", c.name, len(l), head(l, 5), err))
				}
			}
			t.Fatalf("%d messages not handled after %v:\n%s", missing, within, strings.Join(report, "\n"))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// deliverySize returns small in make test, full with GW_DELIVERY_FULL.
func deliverySize[T any](small, full T) T {
	if os.Getenv(envDeliveryFull) != "" {
		return full
	}
	return small
}

// rssSampler records the peak of f until stopped.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	peak int64
}

func sampleRSS(f func() int64) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(50 * time.Millisecond)
		defer t.Stop()
		for {
			s.peak = max(s.peak, f())
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *rssSampler) halt() int64 {
	close(s.stop)
	<-s.done
	return s.peak
}

// TestDeliverySlowHandlerBurst: a worker whose handler takes 20 ms per
// message and 20 clients bursting 4 KiB messages as fast as they can: every
// message is handled, in per-client order, and the gateway and worker
// processes grow by a bounded amount that does not depend on the burst
// (flow control pauses the clients instead of queueing their messages).
func TestDeliverySlowHandlerBurst(t *testing.T) {
	const clients, size = 20, 4 << 10
	perClient := deliverySize(150, 2000)
	dc := newDeliveryCluster(t, 20*time.Millisecond, 0, "w1")
	cs := make([]*burstClient, clients)
	for i := range cs {
		cs[i] = newBurstClient(t, dc.ws, fmt.Sprintf("c%d", i))
	}
	// Warm up (every client handled once), then take the baseline.
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() { _ = c.burst(1, size) })
	}
	wg.Wait()
	waitEchoed(t, cs, waitFor)
	base := dc.rss()
	sampler := sampleRSS(dc.rss)
	start := time.Now()
	for _, c := range cs {
		wg.Go(func() {
			if err := c.burst(perClient, size); err != nil {
				t.Errorf("%s: send: %v", c.name, err)
			}
		})
	}
	// The sends end when the gateway has read every message (it pauses a
	// client whose events wait); then every one must be answered. 20 ms per
	// message, one client's messages one at a time: a client's burst takes
	// perClient*20 ms at least; allow three times that.
	wg.Wait()
	waitEchoed(t, cs, 3*time.Duration(perClient)*20*time.Millisecond+waitFor)
	took := time.Since(start)
	peak := sampler.halt()
	disorder := 0
	for _, c := range cs {
		disorder += c.disorder
		if _, dups := c.echoed(); dups != 0 {
			t.Errorf("%s: %d duplicates without a crash", c.name, dups)
		}
	}
	if disorder != 0 {
		t.Fatalf("%d echoes out of per-client order", disorder)
	}
	st := dc.gw.gatewayStats()
	growth := peak - base
	t.Logf("MEASURE slow-handler burst: %d clients x %d x %d B handled in %v, in order, 0 lost; gateway+worker RSS %d MiB -> peak %d MiB (growth %d MiB, bound %d MiB); client reads paused %d times",
		clients, perClient, size, took.Round(time.Millisecond), base>>20, peak>>20, growth>>20, deliveryRSSBound>>20, st.ClientsPaused)
	if st.ClientsPaused == 0 {
		t.Error("the burst never filled the link's window: the test does not exercise flow control")
	}
	if st.EventsDropped != 0 || st.NoWorkerClosed != 0 {
		t.Errorf("gateway stats %+v", st)
	}
	if bound := int64(deliveryRSSBound * raceFactor); growth > bound {
		t.Errorf("gateway+worker grew by %d MiB, bound %d MiB (x%d under the race detector)", growth>>20, bound>>20, raceFactor)
	}
}

// deliveryRSSBound bounds the growth of gateway+worker RSS under a burst:
// the link's window (8 MiB of events) on each side, the clients' read
// buffers, gRPC's buffers and the GC's headroom. It does not depend on the
// burst's length.
const deliveryRSSBound = 96 << 20

// TestDeliveryStuckHandler: one client's handler is stuck (40 s full size,
// 8 s scaled) and that client keeps sending, while 20 others send 1,000
// messages each (100 scaled): theirs are all answered within seconds; the
// stuck one's are answered, in order, when its handler returns, and the
// watchdog logged it.
func TestDeliveryStuckHandler(t *testing.T) {
	const clients = 20
	stuckFor := deliverySize(8*time.Second, 40*time.Second)
	perClient := deliverySize(100, 1000)
	const stuckSends = 2000 // more than a link window (1024): without the client window, the stuck client would fill it
	dc := newDeliveryCluster(t, 0, stuckFor, "w1")
	stuck := newBurstClient(t, dc.ws, "stuck")
	cs := make([]*burstClient, clients)
	for i := range cs {
		cs[i] = newBurstClient(t, dc.ws, fmt.Sprintf("c%d", i))
	}
	start := time.Now()
	// The stuck client's first message blocks its handler; it keeps
	// sending: its messages wait behind it (the gateway stops reading it
	// past its client window) and take no room from the others.
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := stuck.burst(stuckSends, 256); err != nil {
			t.Errorf("stuck: send: %v", err)
		}
	})
	time.Sleep(100 * time.Millisecond) // the stuck handler is running: the scenario, not a synchronisation
	for _, c := range cs {
		wg.Go(func() {
			if err := c.burst(perClient, 256); err != nil {
				t.Errorf("%s: send: %v", c.name, err)
			}
		})
	}
	waitAllSent(t, cs, perClient)
	waitEchoed(t, cs, stuckFor/2)
	others := time.Since(start)
	if n, _ := stuck.echoed(); n != 0 {
		t.Fatalf("the stuck client got %d answers before its handler returned", n)
	}
	wg.Wait()
	waitEchoed(t, []*burstClient{stuck}, stuckFor+waitFor)
	t.Logf("MEASURE stuck handler (%v): %d clients x %d messages all answered %v after the stuck one began; the stuck client's %d answered, in order, after %v",
		stuckFor, clients, perClient, others.Round(time.Millisecond), stuckSends, time.Since(start).Round(time.Millisecond))
	if stuck.disorder != 0 {
		t.Errorf("the stuck client's answers out of order %d times", stuck.disorder)
	}
	if !strings.Contains(dc.workers["w1"].out.String(), "event handler running long") {
		t.Error("the watchdog did not log the stuck handler")
	}
}

// TestDeliveryWorkerKilledMidBurst: two workers with a slow handler, 20
// clients bursting, one worker SIGKILLed in the middle: every message is
// handled at least once (the events the dead worker had in hand go to the
// other one).
func TestDeliveryWorkerKilledMidBurst(t *testing.T) {
	const clients = 20
	perClient := deliverySize(150, 2000)
	dc := newDeliveryCluster(t, 5*time.Millisecond, 0, "w1", "w2")
	cs := make([]*burstClient, clients)
	for i := range cs {
		cs[i] = newBurstClient(t, dc.ws, fmt.Sprintf("c%d", i))
	}
	var wg sync.WaitGroup
	for _, c := range cs {
		wg.Go(func() {
			if err := c.burst(perClient, 1<<10); err != nil {
				t.Errorf("%s: send: %v", c.name, err)
			}
		})
	}
	// Kill w1 once it has answered a good share of its clients' messages.
	eventually(t, "w1 busy", func() bool {
		n := 0
		for _, c := range cs {
			c.mu.Lock()
			n += c.byWorker["w1"]
			c.mu.Unlock()
		}
		return n > clients*perClient/8
	})
	dc.workers["w1"].kill(t)
	wg.Wait()
	waitEchoed(t, cs, time.Duration(perClient)*5*time.Millisecond*4+waitFor)
	dups := 0
	for _, c := range cs {
		_, d := c.echoed()
		dups += d
	}
	st := dc.gw.gatewayStats()
	t.Logf("MEASURE worker SIGKILLed mid-burst: %d clients x %d messages, 0 lost, %d duplicates, %d events redelivered",
		clients, perClient, dups, st.EventsRedelivered)
	if st.EventsDropped != 0 {
		t.Errorf("gateway dropped %d events", st.EventsDropped)
	}
}

// slogToStderr logs warnings and errors of a helper process to its stderr,
// which the test keeps (the watchdog's line is checked).
func slogToStderr() *slog.Logger {
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
}
