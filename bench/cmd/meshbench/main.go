// Command meshbench is the mesh simulation of `make bench-mesh`
// (bench/mesh.sh): for each size it starts 3 registers (one gossip cluster),
// G gateway processes and W worker processes (`gwbench worker`) on this box
// and measures
//
//   - announce: from launching the G gateways until every register lists
//     all of them;
//   - full mesh: from launching the W workers until every gateway has W
//     worker links and every worker G gateway links;
//   - cold start: every gateway and worker stopped, then all launched at
//     once (registers up), until the full mesh;
//   - join: a new gateway, until it has W links and every worker G+1;
//   - drop: a gateway killed (SIGKILL), until every worker is down to G
//     links, and until every register lists G gateways;
//   - SendToAll: gwbench with a few clients on every gateway, one sender,
//     latency from send to receipt across all G gateways;
//   - memory (RSS) and goroutines of gateways before and after the workers
//     linked (per link = difference / W), of workers (per link = slope
//     between sizes, computed by the reader), and of the registers;
//   - register CPU and gossip traffic over a quiet window of full mesh:
//     UDP datagrams of the network namespace (/proc/net/snmp; only
//     memberlist uses UDP here), the registers' I/O bytes (/proc/PID/io:
//     gossip and gRPC together) and all loopback bytes (/proc/net/dev: the
//     whole cluster's control traffic, no client being connected).
//
// Every process listens on 127.0.0.1. It prints a table and, as its last
// line, one JSON object with the figures of every size.
//
//	meshbench --bin DIR [--sizes 4,16,64] [--workers 16] [--registers 3] [--out DIR]
package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"text/tabwriter"
	"time"
)

type options struct {
	bin, out        string
	sizes           []int
	workers, regs   int
	clientsPerGW    int
	port            int
	quiet           time.Duration
	timeout         time.Duration
	sendRate        float64
	sendDur, warmup time.Duration
	isolatedNetns   bool
	progress        io.Writer
}

func main() {
	var o options
	var sizes string
	flag.StringVar(&o.bin, "bin", "", "directory holding gatewayworker and gwbench (required)")
	flag.StringVar(&o.out, "out", "", "directory for logs and reports (default: a temp dir)")
	flag.StringVar(&sizes, "sizes", "4,16,64", "gateway counts, comma-separated")
	flag.IntVar(&o.workers, "workers", 16, "worker processes")
	flag.IntVar(&o.regs, "registers", 3, "register processes (one gossip cluster)")
	flag.IntVar(&o.clientsPerGW, "clients-per-gateway", 4, "WebSocket clients per gateway for the SendToAll latency")
	flag.IntVar(&o.port, "port", 20000, "first port; each size uses ports from here up")
	flag.DurationVar(&o.quiet, "quiet", 10*time.Second, "window of full mesh for the register CPU and gossip traffic")
	flag.DurationVar(&o.timeout, "timeout", 120*time.Second, "bound of each wait")
	flag.Float64Var(&o.sendRate, "send-rate", 10, "SendToAll messages per second")
	flag.DurationVar(&o.sendDur, "send-duration", 10*time.Second, "SendToAll measured window")
	flag.DurationVar(&o.warmup, "send-warmup", 2*time.Second, "SendToAll warmup")
	flag.BoolVar(&o.isolatedNetns, "netns", false, "set by mesh.sh when running in a network namespace of its own (UDP counts are then gossip only)")
	flag.Parse()
	if o.bin == "" {
		fmt.Fprintln(os.Stderr, "meshbench: --bin is required")
		os.Exit(2)
	}
	for f := range strings.SplitSeq(sizes, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 200 {
			fmt.Fprintf(os.Stderr, "meshbench: --sizes: bad size %q\n", f)
			os.Exit(2)
		}
		o.sizes = append(o.sizes, n)
	}
	if o.out == "" {
		d, err := os.MkdirTemp("", "gwbench-mesh.")
		if err != nil {
			fmt.Fprintln(os.Stderr, "meshbench:", err)
			os.Exit(1)
		}
		o.out = d
	}
	o.progress = os.Stderr
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var results []*result
	for _, g := range o.sizes {
		r, err := runSize(ctx, &o, g)
		if err != nil {
			fmt.Fprintf(os.Stderr, "meshbench: %d gateways: %v\n", g, err)
			if r == nil {
				os.Exit(1)
			}
			r.Error = err.Error()
		}
		results = append(results, r)
		if ctx.Err() != nil {
			break
		}
	}
	printTable(os.Stdout, results)
	summary := map[string]any{"workers": o.workers, "registers": o.regs, "netns": o.isolatedNetns, "sizes": results}
	if kb, gor, ok := workerSlope(results); ok {
		summary["worker_kb_per_gateway_link"] = kb
		summary["worker_goroutines_per_gateway_link"] = gor
	}
	b, _ := json.Marshal(summary)
	fmt.Println(string(b))
}

// result holds the figures of one size; durations in ms.
type result struct {
	Gateways           int     `json:"gateways"`
	Workers            int     `json:"workers"`
	Links              int     `json:"links"`
	AnnounceMS         float64 `json:"announce_ms"`
	FullMeshMS         float64 `json:"full_mesh_ms"`
	ColdMeshMS         float64 `json:"cold_full_mesh_ms"` // gateways and workers launched at once
	JoinMS             float64 `json:"join_ms"`
	DropWorkersMS      float64 `json:"drop_workers_ms"`
	DropRegistersMS    float64 `json:"drop_registers_ms"`
	SendP50MS          float64 `json:"send_to_all_p50_ms"`
	SendP99MS          float64 `json:"send_to_all_p99_ms"`
	SendLoss           int64   `json:"send_to_all_loss"`
	SendConns          int     `json:"send_to_all_conns"`
	GatewayRSSBeforeMB float64 `json:"gateway_rss_before_mb"` // mean per gateway, no link
	GatewayRSSAfterMB  float64 `json:"gateway_rss_after_mb"`  // mean per gateway, W links
	GatewayKBPerLink   float64 `json:"gateway_kb_per_link"`
	GatewayGorBefore   float64 `json:"gateway_goroutines_before"`
	GatewayGorAfter    float64 `json:"gateway_goroutines_after"`
	GatewayGorPerLink  float64 `json:"gateway_goroutines_per_link"`
	WorkerRSSMB        float64 `json:"worker_rss_mb"` // mean per worker, G links
	WorkerGoroutines   float64 `json:"worker_goroutines"`
	RegisterRSSMB      float64 `json:"register_rss_mb"` // mean per register
	RegisterGoroutines float64 `json:"register_goroutines"`
	RegisterCPUPct     float64 `json:"register_cpu_pct"` // all registers, quiet window
	RegisterIOKBps     float64 `json:"register_io_kb_per_s"`
	GossipUDPPerSec    float64 `json:"gossip_udp_datagrams_per_s"`
	// LoopbackKBps is all loopback traffic in the quiet window: with --netns
	// the whole cluster's control traffic (gossip, leases, watches, link
	// keepalives), no client being connected.
	LoopbackKBps float64 `json:"loopback_kb_per_s"`
	LoadAvg      string  `json:"loadavg"`
	Error        string  `json:"error,omitempty"`
}

// proc is one started process.
type proc struct {
	name  string
	cmd   *exec.Cmd
	admin string // host:port of its /metrics and pprof
	done  chan struct{}
}

type cluster struct {
	o        *options
	dir      string
	mu       sync.Mutex
	procs    []*proc
	regAddrs []string
}

func (c *cluster) start(name, admin string, args ...string) (*proc, error) {
	exe := filepath.Join(c.o.bin, args[0])
	cmd := exec.Command(exe, args[1:]...)
	logf, err := os.Create(filepath.Join(c.dir, name+".log"))
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		_ = logf.Close()
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, admin: admin, done: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		_ = logf.Close()
		close(p.done)
	}()
	c.mu.Lock()
	c.procs = append(c.procs, p)
	c.mu.Unlock()
	return p, nil
}

// stopAll sends SIGTERM to every process, then SIGKILL after 5 s.
func (c *cluster) stopAll() {
	c.mu.Lock()
	procs := c.procs
	c.procs = nil
	c.mu.Unlock()
	stopProcs(procs)
}

// stopSome stops ps (as stopAll) and forgets them.
func (c *cluster) stopSome(ps []*proc) {
	drop := map[*proc]bool{}
	for _, p := range ps {
		drop[p] = true
	}
	c.mu.Lock()
	kept := c.procs[:0]
	for _, p := range c.procs {
		if !drop[p] {
			kept = append(kept, p)
		}
	}
	c.procs = kept
	c.mu.Unlock()
	stopProcs(ps)
}

func stopProcs(procs []*proc) {
	for _, p := range procs {
		_ = p.cmd.Process.Signal(syscall.SIGTERM)
	}
	deadline := time.After(5 * time.Second)
	for _, p := range procs {
		select {
		case <-p.done:
		case <-deadline:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
	}
}

var httpClient = &http.Client{Timeout: 2 * time.Second}

func get(addr, path string) ([]byte, error) {
	resp, err := httpClient.Get("http://" + addr + path)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

// metric returns the value of the sample "name" (with its labels, exactly
// as exposed, e.g. `x{kind="worker"}`) on the /metrics of addr.
func metric(addr, name string) (float64, error) {
	b, err := get(addr, "/metrics")
	if err != nil {
		return 0, err
	}
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if rest, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(rest), 64)
		}
	}
	return 0, fmt.Errorf("no %s on %s", name, addr)
}

// goroutines reads the total of /debug/pprof/goroutine?debug=1.
func goroutines(addr string) (float64, error) {
	b, err := get(addr, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	line, _, _ := bytes.Cut(b, []byte("\n"))
	_, n, ok := strings.Cut(string(line), "total ")
	if !ok {
		return 0, fmt.Errorf("goroutine profile: %q", line)
	}
	return strconv.ParseFloat(strings.TrimSpace(n), 64)
}

// procStat returns utime+stime (seconds) and VmRSS (MB) of pid, and its
// I/O bytes (rchar+wchar).
func procStat(pid int) (cpu, rssMB, ioBytes float64) {
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid)); err == nil {
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			f := bytes.Fields(b[i+1:])
			if len(f) > 12 {
				ut, _ := strconv.ParseFloat(string(f[11]), 64)
				st, _ := strconv.ParseFloat(string(f[12]), 64)
				cpu = (ut + st) / 100
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid)); err == nil {
		for line := range strings.Lines(string(b)) {
			if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
				f := strings.Fields(rest)
				if len(f) > 0 {
					kb, _ := strconv.ParseFloat(f[0], 64)
					rssMB = kb / 1024
				}
			}
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/io", pid)); err == nil {
		for line := range strings.Lines(string(b)) {
			k, v, ok := strings.Cut(line, ":")
			if ok && (k == "rchar" || k == "wchar") {
				n, _ := strconv.ParseFloat(strings.TrimSpace(v), 64)
				ioBytes += n
			}
		}
	}
	return cpu, rssMB, ioBytes
}

// loopbackBytes returns the bytes received on lo (/proc/net/dev): in a
// namespace of its own, all the cluster's traffic.
func loopbackBytes() float64 {
	b, err := os.ReadFile("/proc/net/dev")
	if err != nil {
		return 0
	}
	for line := range strings.Lines(string(b)) {
		name, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(name) != "lo" {
			continue
		}
		f := strings.Fields(rest)
		if len(f) > 0 {
			v, _ := strconv.ParseFloat(f[0], 64)
			return v
		}
	}
	return 0
}

// udpDatagrams returns InDatagrams+OutDatagrams of /proc/net/snmp.
func udpDatagrams() float64 {
	b, err := os.ReadFile("/proc/net/snmp")
	if err != nil {
		return 0
	}
	var names []string
	for line := range strings.Lines(string(b)) {
		rest, ok := strings.CutPrefix(line, "Udp: ")
		if !ok {
			continue
		}
		f := strings.Fields(rest)
		if names == nil {
			names = f
			continue
		}
		var n float64
		for i, name := range names {
			if i < len(f) && (name == "InDatagrams" || name == "OutDatagrams") {
				v, _ := strconv.ParseFloat(f[i], 64)
				n += v
			}
		}
		return n
	}
	return 0
}

// waitUntil polls cond every 50 ms and returns the time from since until
// it held.
func waitUntil(ctx context.Context, timeout time.Duration, since time.Time, what string, cond func() bool) (time.Duration, error) {
	deadline := time.Now().Add(timeout)
	for {
		if cond() {
			return time.Since(since), nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("timeout waiting for %s", what)
		}
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// allEqual reports whether metric name is want on every address (queried
// concurrently).
func allEqual(addrs []string, name string, want float64) bool {
	var bad sync.Map
	var wg sync.WaitGroup
	for _, a := range addrs {
		wg.Go(func() {
			if v, err := metric(a, name); err != nil || v != want {
				bad.Store(a, true)
			}
		})
	}
	wg.Wait()
	ok := true
	bad.Range(func(any, any) bool { ok = false; return false })
	return ok
}

func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// sample returns the mean RSS (MB, from /proc) and goroutines (pprof) of ps.
func sample(ps []*proc) (rss, gor float64) {
	var rs, gs []float64
	var mu sync.Mutex
	var wg sync.WaitGroup
	for _, p := range ps {
		wg.Go(func() {
			_, r, _ := procStat(p.cmd.Process.Pid)
			g, err := goroutines(p.admin)
			mu.Lock()
			defer mu.Unlock()
			rs = append(rs, r)
			if err == nil {
				gs = append(gs, g)
			}
		})
	}
	wg.Wait()
	return mean(rs), mean(gs)
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return ""
	}
	return strings.Join(f[:3], " ")
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1e3 }

func (o *options) logf(format string, args ...any) {
	fmt.Fprintf(o.progress, "== "+format+"\n", args...)
}

func runSize(ctx context.Context, o *options, g int) (*result, error) {
	dir := filepath.Join(o.out, fmt.Sprintf("g%d", g))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	c := &cluster{o: o, dir: dir}
	defer c.stopAll()
	r := &result{Gateways: g, Workers: o.workers, Links: g * o.workers}
	W := o.workers
	port := func(kind, i int) int { return o.port + kind*1000 + i } // kinds 0..9
	addr := func(kind, i int) string { return "127.0.0.1:" + strconv.Itoa(port(kind, i)) }

	// Registers: one gossip cluster.
	var regs []*proc
	for i := range o.regs {
		args := []string{"gatewayworker", "register", "--listen", addr(0, i), "--gossip", addr(1, i),
			"--name", fmt.Sprintf("r%d", i), "--admin", addr(2, i), "--log-level", "warn"}
		if i > 0 {
			args = append(args, "--join", addr(1, 0))
		}
		p, err := c.start(fmt.Sprintf("register%d", i), addr(2, i), args...)
		if err != nil {
			return nil, err
		}
		regs = append(regs, p)
		if i == 0 {
			if _, err := waitUntil(ctx, o.timeout, time.Now(), "register 0", func() bool {
				_, err := metric(addr(2, 0), "gatewayworker_register_ready")
				return err == nil
			}); err != nil {
				return nil, err
			}
		}
		c.regAddrs = append(c.regAddrs, addr(0, i))
	}
	regAdmins := make([]string, len(regs))
	for i, p := range regs {
		regAdmins[i] = p.admin
	}
	if _, err := waitUntil(ctx, o.timeout, time.Now(), "register cluster", func() bool {
		return allEqual(regAdmins, "gatewayworker_register_members", float64(o.regs))
	}); err != nil {
		return nil, err
	}
	regList := strings.Join(c.regAddrs, ",")

	startGateway := func(i int) (*proc, error) {
		return c.start(fmt.Sprintf("gateway%d", i), addr(5, i), "gatewayworker", "gateway",
			"--listen", addr(3, i), "--lan", addr(4, i), "--register", regList,
			"--name", fmt.Sprintf("gw%d", i), "--admin", addr(5, i), "--log-level", "warn")
	}

	startWorker := func(i int) (*proc, error) {
		return c.start(fmt.Sprintf("worker%d", i), addr(6, i), "gwbench", "worker",
			"--register", regList, "--name", fmt.Sprintf("w%d", i), "--admin", addr(6, i))
	}

	// Gateways, then the time until every register lists them all.
	o.logf("%d gateways: starting %d registers and %d gateways (load %s)", g, o.regs, g, loadavg())
	t0 := time.Now()
	var gws []*proc
	for i := range g {
		p, err := startGateway(i)
		if err != nil {
			return nil, err
		}
		gws = append(gws, p)
	}
	d, err := waitUntil(ctx, o.timeout, t0, "gateways announced", func() bool {
		return allEqual(regAdmins, "gatewayworker_register_gateways", float64(g))
	})
	if err != nil {
		return nil, err
	}
	r.AnnounceMS = ms(d)
	gwAdmins := make([]string, g)
	for i, p := range gws {
		gwAdmins[i] = p.admin
	}
	if _, err := waitUntil(ctx, o.timeout, time.Now(), "gateway admin endpoints", func() bool {
		return allEqual(gwAdmins, `gatewayworker_gateway_links{kind="worker"}`, 0)
	}); err != nil {
		return nil, err
	}
	r.GatewayRSSBeforeMB, r.GatewayGorBefore = sample(gws)

	// Workers, then the time to the full mesh, seen from both sides.
	o.logf("%d gateways: starting %d workers", g, W)
	t0 = time.Now()
	var wks []*proc
	for i := range W {
		p, err := startWorker(i)
		if err != nil {
			return nil, err
		}
		wks = append(wks, p)
	}
	wkAdmins := make([]string, W)
	for i, p := range wks {
		wkAdmins[i] = p.admin
	}
	d, err = waitUntil(ctx, o.timeout, t0, "full mesh", func() bool {
		return allEqual(gwAdmins, `gatewayworker_gateway_links{kind="worker"}`, float64(W)) &&
			allEqual(wkAdmins, "gatewayworker_worker_links", float64(g))
	})
	if err != nil {
		return r, err
	}
	r.FullMeshMS = ms(d)
	o.logf("%d gateways: full mesh of %d links in %.0f ms", g, g*W, r.FullMeshMS)
	time.Sleep(2 * time.Second) // let the start-up garbage settle
	r.GatewayRSSAfterMB, r.GatewayGorAfter = sample(gws)
	r.GatewayKBPerLink = (r.GatewayRSSAfterMB - r.GatewayRSSBeforeMB) * 1024 / float64(W)
	r.GatewayGorPerLink = (r.GatewayGorAfter - r.GatewayGorBefore) / float64(W)
	r.WorkerRSSMB, r.WorkerGoroutines = sample(wks)
	r.RegisterRSSMB, r.RegisterGoroutines = sample(regs)

	// A quiet window of full mesh: register CPU, I/O and gossip datagrams.
	var cpu0, io0 float64
	for _, p := range regs {
		cu, _, ib := procStat(p.cmd.Process.Pid)
		cpu0, io0 = cpu0+cu, io0+ib
	}
	udp0, lo0, q0 := udpDatagrams(), loopbackBytes(), time.Now()
	select {
	case <-ctx.Done():
		return r, ctx.Err()
	case <-time.After(o.quiet):
	}
	var cpu1, io1 float64
	for _, p := range regs {
		cu, _, ib := procStat(p.cmd.Process.Pid)
		cpu1, io1 = cpu1+cu, io1+ib
	}
	secs := time.Since(q0).Seconds()
	r.RegisterCPUPct = 100 * (cpu1 - cpu0) / secs
	r.RegisterIOKBps = (io1 - io0) / 1024 / secs
	r.GossipUDPPerSec = (udpDatagrams() - udp0) / secs
	r.LoopbackKBps = (loopbackBytes() - lo0) / 1024 / secs
	r.LoadAvg = loadavg()

	// SendToAll across every gateway.
	urls := make([]string, g)
	for i := range g {
		urls[i] = "ws://" + addr(3, i) + "/"
	}
	r.SendConns = o.clientsPerGW * g
	jsonPath := filepath.Join(dir, "send_to_all.json")
	cmd := exec.CommandContext(ctx, filepath.Join(o.bin, "gwbench"), "run", "--quiet",
		"--url", strings.Join(urls, ","), "--conns", strconv.Itoa(r.SendConns), "--senders", "1",
		"--rate", strconv.FormatFloat(o.sendRate, 'f', -1, 64), "--warmup", o.warmup.String(),
		"--duration", o.sendDur.String(), "--json", jsonPath)
	outText, err := cmd.CombinedOutput()
	_ = os.WriteFile(filepath.Join(dir, "send_to_all.txt"), outText, 0o644)
	if err != nil {
		return r, fmt.Errorf("gwbench: %w: %s", err, lastLines(outText, 3))
	}
	var rep struct {
		Loss    int64 `json:"loss"`
		Latency struct {
			P50 float64 `json:"p50"`
			P99 float64 `json:"p99"`
		} `json:"latency_us"`
	}
	if b, err := os.ReadFile(jsonPath); err == nil {
		_ = json.Unmarshal(b, &rep)
	}
	r.SendP50MS, r.SendP99MS, r.SendLoss = rep.Latency.P50/1e3, rep.Latency.P99/1e3, rep.Loss

	// A new gateway: linked by every worker.
	t0 = time.Now()
	ng, err := startGateway(g)
	if err != nil {
		return r, err
	}
	d, err = waitUntil(ctx, o.timeout, t0, "new gateway linked", func() bool {
		return allEqual([]string{ng.admin}, `gatewayworker_gateway_links{kind="worker"}`, float64(W)) &&
			allEqual(wkAdmins, "gatewayworker_worker_links", float64(g+1))
	})
	if err != nil {
		return r, err
	}
	r.JoinMS = ms(d)

	// A gateway killed: dropped by every worker, and by the registers.
	t0 = time.Now()
	_ = gws[0].cmd.Process.Kill()
	var wg sync.WaitGroup
	var regErr error
	wg.Go(func() {
		d, err := waitUntil(ctx, o.timeout, t0, "registers drop the killed gateway", func() bool {
			return allEqual(regAdmins, "gatewayworker_register_gateways", float64(g))
		})
		r.DropRegistersMS, regErr = ms(d), err
	})
	d, err = waitUntil(ctx, o.timeout, t0, "workers drop the killed gateway", func() bool {
		return allEqual(wkAdmins, "gatewayworker_worker_links", float64(g))
	})
	wg.Wait()
	if err != nil {
		return r, err
	}
	r.DropWorkersMS = ms(d)
	if regErr != nil {
		return r, regErr
	}

	// Cold start: every gateway and worker stopped, then all launched at
	// once (the registers stay up), until the full mesh.
	c.stopSome(append(append([]*proc{ng}, gws...), wks...))
	if _, err := waitUntil(ctx, o.timeout, time.Now(), "gateways gone", func() bool {
		return allEqual(regAdmins, "gatewayworker_register_gateways", 0)
	}); err != nil {
		return r, err
	}
	t0 = time.Now()
	gws, wks = gws[:0], wks[:0]
	for i := range g {
		p, err := startGateway(i)
		if err != nil {
			return r, err
		}
		gws = append(gws, p)
	}
	for i := range W {
		p, err := startWorker(i)
		if err != nil {
			return r, err
		}
		wks = append(wks, p)
	}
	d, err = waitUntil(ctx, o.timeout, t0, "full mesh after a cold start", func() bool {
		return allEqual(gwAdmins, `gatewayworker_gateway_links{kind="worker"}`, float64(W)) &&
			allEqual(wkAdmins, "gatewayworker_worker_links", float64(g))
	})
	if err != nil {
		return r, err
	}
	r.ColdMeshMS = ms(d)
	o.logf("%d gateways: cold start to full mesh in %.0f ms; done (load %s)", g, r.ColdMeshMS, loadavg())
	return r, nil
}

func lastLines(b []byte, n int) string {
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, " | ")
}

func printTable(w io.Writer, rs []*result) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "gateways\tlinks\tannounce ms\tfull mesh ms\tcold ms\tjoin ms\tdrop ms (workers/registers)\tSendToAll p50/p99 ms\tloss\tgw KB/link\tgw gor/link\tworker MB\tworker gor\tregister MB\tregister cpu %\tregister I/O KB/s\tgossip dgram/s\tlo KB/s\t")
	for _, r := range rs {
		fmt.Fprintf(tw, "%d\t%d\t%.0f\t%.0f\t%.0f\t%.0f\t%.0f/%.0f\t%.2f/%.2f\t%d\t%.1f\t%.1f\t%.1f\t%.0f\t%.1f\t%.1f\t%.1f\t%.1f\t%.1f\t\n",
			r.Gateways, r.Links, r.AnnounceMS, r.FullMeshMS, r.ColdMeshMS, r.JoinMS, r.DropWorkersMS, r.DropRegistersMS,
			r.SendP50MS, r.SendP99MS, r.SendLoss, r.GatewayKBPerLink, r.GatewayGorPerLink,
			r.WorkerRSSMB, r.WorkerGoroutines, r.RegisterRSSMB, r.RegisterCPUPct, r.RegisterIOKBps, r.GossipUDPPerSec, r.LoopbackKBps)
	}
	_ = tw.Flush()
	if kb, gor, ok := workerSlope(rs); ok {
		fmt.Fprintf(w, "per worker, per added gateway link (smallest to largest size): %.1f KB RSS, %.2f goroutines\n", kb, gor)
	}
}

// workerSlope is the growth of a worker's RSS (KB) and goroutines per added
// gateway link, between the smallest and the largest size that completed.
func workerSlope(rs []*result) (kb, gor float64, ok bool) {
	var a, b *result
	for _, r := range rs {
		if r == nil || r.WorkerRSSMB == 0 {
			continue
		}
		if a == nil || r.Gateways < a.Gateways {
			a = r
		}
		if b == nil || r.Gateways > b.Gateways {
			b = r
		}
	}
	if a == nil || b == nil || b.Gateways == a.Gateways {
		return 0, 0, false
	}
	dg := float64(b.Gateways - a.Gateways)
	return (b.WorkerRSSMB - a.WorkerRSSMB) * 1024 / dg, (b.WorkerGoroutines - a.WorkerGoroutines) / dg, true
}
