package main

import (
	"context"
	"encoding/json"

	"fmt"
	"io"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
	"go.uber.org/goleak"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

const adminWait = 10 * time.Second

// started is a subcommand running in-process.
type started struct {
	name string
	out  *lockedBuffer
	done chan int // receives the exit code
	stop context.CancelFunc
}

// start runs the subcommand args until the test ends; at the end it must
// exit 0 within demoStopTimeout.
func start(t *testing.T, args ...string) *started {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &started{name: args[0], out: &lockedBuffer{}, done: make(chan int, 1), stop: cancel}
	go func() { s.done <- run(ctx, args, s.out, s.out, func(string) string { return "" }) }()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-s.done:
			if code != 0 {
				t.Errorf("%s exited with %d; output:\n%s", s.name, code, s.out.String())
			}
		case <-time.After(demoStopTimeout):
			t.Errorf("%s did not stop; output:\n%s", s.name, s.out.String())
		}
	})
	return s
}

// noLeaks checks, when the test and its cleanups are done, that no
// goroutine started by the test is left. Call it first in the test.
func noLeaks(t *testing.T) {
	t.Helper()
	current := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, current) })
}

// get fetches url and returns the status code and body.
func get(t *testing.T, url string) (int, string) {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 2 * time.Second}
	resp, err := client.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitStatus polls url until it answers code with a body containing want.
func waitStatus(t *testing.T, s *started, url string, code int, want string) {
	t.Helper()
	deadline := time.Now().Add(adminWait)
	for {
		c, body := get(t, url)
		if c == code && strings.Contains(body, want) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %d %q, want %d with %q; %s output:\n%s", url, c, body, code, want, s.name, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// scrapeFamilies parses the /metrics page at url.
func scrapeFamilies(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	code, body := get(t, url)
	if code != http.StatusOK {
		t.Fatalf("%s = %d %q", url, code, body)
	}
	p := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := p.TextToMetricFamilies(strings.NewReader(body))
	if err != nil {
		t.Fatalf("%s: %v", url, err)
	}
	return fams
}

// value returns the value of the unlabelled gauge or counter name.
func value(fams map[string]*dto.MetricFamily, name string) float64 {
	f := fams[name]
	if f == nil || len(f.GetMetric()) != 1 {
		return -1
	}
	m := f.GetMetric()[0]
	if m.GetGauge() != nil {
		return m.GetGauge().GetValue()
	}
	return m.GetCounter().GetValue()
}

// waitValue polls the scrape at url until name has value v.
func waitValue(t *testing.T, url, name string, v float64) {
	t.Helper()
	deadline := time.Now().Add(adminWait)
	for {
		got := value(scrapeFamilies(t, url), name)
		if got == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %s = %v, want %v", url, name, got, v)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestAdminEndpoints runs a register and a gateway with --admin: health,
// readiness that follows the worker links, and metrics of each role.
func TestAdminEndpoints(t *testing.T) {
	noLeaks(t)
	a := freeAddrs(t, 5)
	regAddr, regAdmin, wsAddr, lanAddr, gwAdmin := a[0], a[1], a[2], a[3], a[4]
	reg := start(t, "register", "--listen", regAddr, "--gossip", "", "--admin", regAdmin)
	gw := start(t, "gateway", "--listen", wsAddr, "--lan", lanAddr, "--register", regAddr, "--admin", gwAdmin)

	waitStatus(t, reg, "http://"+regAdmin+"/readyz", 200, "ready")
	waitStatus(t, reg, "http://"+regAdmin+"/healthz", 200, "ok")
	waitStatus(t, gw, "http://"+gwAdmin+"/healthz", 200, "ok")
	// No worker yet: the gateway is alive but not ready.
	waitStatus(t, gw, "http://"+gwAdmin+"/readyz", 503, "no worker linked")
	waitValue(t, "http://"+regAdmin+"/metrics", "gatewayworker_register_gateways", 1)
	if code, _ := get(t, "http://"+gwAdmin+"/debug/pprof/"); code != 200 {
		t.Errorf("pprof = %d", code)
	}

	// A worker links: ready.
	w, err := businessworker.New(businessworker.Config{Registers: []string{regAddr}, Handler: businessworker.BaseHandler{}})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	waitStatus(t, gw, "http://"+gwAdmin+"/readyz", 200, "ready")
	fams := scrapeFamilies(t, "http://"+gwAdmin+"/metrics")
	if v := fams["gatewayworker_gateway_links"]; v == nil {
		t.Fatal("no gatewayworker_gateway_links")
	}
	for _, name := range []string{"go_goroutines", "process_cpu_seconds_total", "go_build_info", "gatewayworker_gateway_connections"} {
		if fams[name] == nil {
			t.Errorf("gateway /metrics lacks %s", name)
		}
	}
	// The worker leaves: not ready again.
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("worker: %v", err)
	}
	waitStatus(t, gw, "http://"+gwAdmin+"/readyz", 503, "no worker linked")
}

// TestDemoMetricsAndDashboard runs the demo, checks that its page port
// serves health, readiness and metrics that follow what a client does,
// and that every expression of docs/dashboard.json names metrics of the
// scrape (and that the dashboard shows every gatewayworker metric).
func TestDemoMetricsAndDashboard(t *testing.T) {
	noLeaks(t)
	a := freeAddrs(t, 4)
	wsAddr, lanAddr, regAddr, httpAddr := a[0], a[1], a[2], a[3]
	demo := start(t, "demo", "--listen", wsAddr, "--lan", lanAddr, "--register-listen", regAddr,
		"--http", httpAddr, "--tick", "100ms")
	base := "http://" + httpAddr
	waitStatus(t, demo, base+"/healthz", 200, "ok")
	waitStatus(t, demo, base+"/readyz", 200, "ready")
	waitValue(t, base+"/metrics", "gatewayworker_gateway_connections", 0)

	// One client connects and sends one message.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/?nick=ops", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	waitValue(t, base+"/metrics", "gatewayworker_gateway_connections", 1)
	if err := ws.WriteMessage(websocket.TextMessage, []byte(`{"type":"say","text":"hi"}`)); err != nil {
		t.Fatal(err)
	}
	waitValue(t, base+"/metrics", "gatewayworker_gateway_messages_received_total", 1)
	waitValue(t, base+"/metrics", "gatewayworker_worker_links", 1)
	waitValue(t, base+"/metrics", "gatewayworker_register_gateways", 1)
	fams := scrapeFamilies(t, base+"/metrics")
	if h := fams["gatewayworker_worker_event_duration_seconds"]; h == nil || sampleCount(h, "connect") != 1 {
		t.Errorf("worker connect events handled: %v", h)
	}

	checkDashboard(t, fams)
}

// sampleCount returns the count of the histogram series with event=event.
func sampleCount(f *dto.MetricFamily, event string) uint64 {
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "event" && l.GetValue() == event {
				return m.GetHistogram().GetSampleCount()
			}
		}
	}
	return 0
}

// metricName matches the metric names a dashboard expression may use.
var metricName = regexp.MustCompile(`\b(?:gatewayworker|go|process)_[a-z0-9_]+\b`)

// checkDashboard parses docs/dashboard.json and checks each panel query
// against the families of a scrape.
func checkDashboard(t *testing.T, fams map[string]*dto.MetricFamily) {
	t.Helper()
	raw, err := os.ReadFile("../../docs/dashboard.json")
	if err != nil {
		t.Fatal(err)
	}
	var dash struct {
		Title         string `json:"title"`
		UID           string `json:"uid"`
		SchemaVersion int    `json:"schemaVersion"`
		Panels        []struct {
			Type    string `json:"type"`
			Title   string `json:"title"`
			Targets []struct {
				Expr string `json:"expr"`
			} `json:"targets"`
		} `json:"panels"`
	}
	if err := json.Unmarshal(raw, &dash); err != nil {
		t.Fatalf("docs/dashboard.json: %v", err)
	}
	if dash.Title == "" || dash.UID == "" || dash.SchemaVersion == 0 || len(dash.Panels) == 0 {
		t.Fatalf("dashboard lacks title, uid, schemaVersion or panels")
	}
	used := map[string]bool{}
	for _, p := range dash.Panels {
		if p.Type == "row" {
			continue
		}
		if len(p.Targets) == 0 {
			t.Errorf("panel %q has no query", p.Title)
		}
		for _, tg := range p.Targets {
			names := metricName.FindAllString(tg.Expr, -1)
			if len(names) == 0 {
				t.Errorf("panel %q: query %q names no metric", p.Title, tg.Expr)
			}
			for _, n := range names {
				family := familyOf(n, fams)
				if family == "" {
					t.Errorf("panel %q: %s is not in a scrape of the demo", p.Title, n)
					continue
				}
				used[family] = true
			}
		}
	}
	var unused []string
	for name := range fams {
		if strings.HasPrefix(name, "gatewayworker_") && !used[name] {
			unused = append(unused, name)
		}
	}
	slices.Sort(unused)
	if len(unused) > 0 {
		t.Errorf("metrics not on the dashboard: %v", unused)
	}
}

// familyOf returns the family a sample name belongs to (a histogram's
// _bucket, _sum and _count belong to it), or "".
func familyOf(name string, fams map[string]*dto.MetricFamily) string {
	if fams[name] != nil {
		return name
	}
	for _, suffix := range []string{"_bucket", "_sum", "_count"} {
		base, ok := strings.CutSuffix(name, suffix)
		if f := fams[base]; ok && f != nil && f.GetType() == dto.MetricType_HISTOGRAM {
			return base
		}
	}
	return ""
}

// wait stops s and returns its exit code.
func (s *started) wait(t *testing.T) int {
	t.Helper()
	s.stop()
	select {
	case code := <-s.done:
		s.done <- code // for the cleanup
		return code
	case <-time.After(demoStopTimeout):
		t.Fatalf("%s did not stop; output:\n%s", s.name, s.out.String())
		return -1
	}
}

// TestDemoLogsLifecycleNotMessages runs the demo with JSON logs at info:
// every line is JSON, each role logs its lifecycle (start, link, announce,
// drain, stop), and client messages add no line.
func TestDemoLogsLifecycleNotMessages(t *testing.T) {
	noLeaks(t)
	a := freeAddrs(t, 4)
	wsAddr, lanAddr, regAddr, httpAddr := a[0], a[1], a[2], a[3]
	demo := start(t, "demo", "--listen", wsAddr, "--lan", lanAddr, "--register-listen", regAddr,
		"--http", httpAddr, "--tick", "0", "--log-format", "json", "--log-level", "info")
	base := "http://" + httpAddr
	waitStatus(t, demo, base+"/readyz", 200, "ready")

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/?nick=logs", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	waitValue(t, base+"/metrics", "gatewayworker_gateway_connections", 1)
	before := strings.Count(demo.out.String(), "\n")
	const n = 50
	for i := range n {
		if err := ws.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, `{"type":"say","text":"m%d"}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	waitValue(t, base+"/metrics", "gatewayworker_gateway_messages_received_total", n)
	deadline := time.Now().Add(adminWait)
	for !(value(scrapeFamilies(t, base+"/metrics"), "gatewayworker_gateway_messages_sent_total") >= n) {
		if time.Now().After(deadline) {
			t.Fatal("the chat messages were not broadcast")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if after := strings.Count(demo.out.String(), "\n"); after != before {
		t.Errorf("%d messages added %d log lines at info:\n%s", n, after-before, demo.out.String())
	}
	_ = ws.Close()
	if code := demo.wait(t); code != 0 {
		t.Fatalf("demo exited %d", code)
	}

	var msgs []string
	for line := range strings.Lines(demo.out.String()) {
		var rec struct {
			Level, Msg string
		}
		if err := json.Unmarshal([]byte(line), &rec); err != nil || rec.Level == "" || rec.Msg == "" {
			t.Errorf("not a JSON log record: %q (%v)", line, err)
			continue
		}
		msgs = append(msgs, rec.Msg)
	}
	for _, want := range []string{
		"serving",         // register
		"gateway serving", // gateway start
		"announced",       // gateway → register
		"worker started",  // worker start
		"linked",          // worker → gateway
		"link up",         // gateway side
		"gateway draining: closing clients with 1001",
		"left", // gateway left the register
		"worker draining: finishing the events in hand",
		"unlinked",
		"link down",
		"worker stopped",
		"gateway stopped",
		"stopped", // register
	} {
		if k := count(msgs, want); k != 1 {
			t.Errorf("log %q %d times, want once; log:\n%s", want, k, demo.out.String())
		}
	}
}

func count(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}
