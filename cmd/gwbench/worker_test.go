package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/gatewayworker/gatewayworker/internal/loadgen"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
)

// runLoad runs gwbench's engine against urls in this process.
func runLoad(t *testing.T, w loadgen.WorkerConfig) *loadgen.Report {
	t.Helper()
	b, err := loadgen.New(loadgen.Config{Worker: w, Warmup: 700 * time.Millisecond, Duration: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	rep, err := b.Run(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

// The benchmark worker on a real cluster of two gateways and two workers:
// broadcast reaches every client of both gateways once, and with groups
// spread over both gateways each message reaches its sender's group and no
// other (an extra delivery would show as negative loss).
func TestBenchWorkerBroadcastAndGroups(t *testing.T) {
	c := testcluster.NewCluster(t, "s3cret")
	g1, g2 := c.AddGateway("g1", nil), c.AddGateway("g2", nil)
	log := slog.New(slog.DiscardHandler)
	c.AddWorker(&benchHandler{log: log})
	c.AddWorker(&benchHandler{log: log})
	urls := []string{g1.WS, g2.WS}

	rep := runLoad(t, loadgen.WorkerConfig{URLs: urls, Conns: 40, Senders: 2, Rate: 20})
	if rep.Conns != 40 || rep.Sent == 0 || rep.Expected != rep.Sent*40 || rep.Loss != 0 || rep.Dups != 0 || rep.Bad != 0 {
		t.Fatalf("broadcast: conns %d sent %d expected %d deliveries %d loss %d dups %d bad %d",
			rep.Conns, rep.Sent, rep.Expected, rep.Deliveries, rep.Loss, rep.Dups, rep.Bad)
	}

	rep = runLoad(t, loadgen.WorkerConfig{URLs: urls, Conns: 40, Senders: 4, Rate: 20, Groups: 4})
	if rep.Conns != 40 || rep.Sent == 0 || rep.Expected != rep.Sent*10 || rep.Loss != 0 || rep.Dups != 0 || rep.Bad != 0 {
		t.Fatalf("groups: conns %d sent %d expected %d deliveries %d loss %d dups %d bad %d",
			rep.Conns, rep.Sent, rep.Expected, rep.Deliveries, rep.Loss, rep.Dups, rep.Bad)
	}
}

func TestWorkerFlags(t *testing.T) {
	if code := runWorker(t.Context(), []string{"--log-level", "loud"}, &discard{}); code != 2 {
		t.Fatalf("bad log level: exit %d", code)
	}
	if code := runWorker(t.Context(), []string{"--nope"}, &discard{}); code != 2 {
		t.Fatalf("unknown flag: exit %d", code)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// The admin endpoint serves the metrics, the goroutine count and a CPU
// profile (what bench/mesh.sh and a profiling session read).
func TestWorkerAdmin(t *testing.T) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	stop, err := serveAdmin(addr, reg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	for path, want := range map[string]string{
		"/metrics":                       "go_goroutines",
		"/debug/pprof/goroutine?debug=1": "goroutine profile: total",
		"/debug/pprof/profile?seconds=1": "",
	} {
		resp, err := http.Get("http://" + addr + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK || !strings.Contains(string(b), want) || len(b) == 0 {
			t.Errorf("%s: %s, %d bytes", path, resp.Status, len(b))
		}
	}
}
