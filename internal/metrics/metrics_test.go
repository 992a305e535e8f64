package metrics

import (
	"context"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestHistogramCounts(t *testing.T) {
	h := NewHistogram(10, 1, 5, 5) // sorted and deduplicated: 1, 5, 10
	for _, v := range []uint64{0, 1, 2, 5, 6, 10, 11, 1000} {
		h.Observe(v)
	}
	count, sum, cum := h.Snapshot()
	if count != 8 || sum != 1035 {
		t.Fatalf("count, sum = %d, %d; want 8, 1035", count, sum)
	}
	if want := []uint64{2, 4, 6}; !equal(cum, want) {
		t.Fatalf("cumulative = %v, want %v", cum, want)
	}
	if b := h.Bounds(); !equal(b, []uint64{1, 5, 10}) {
		t.Fatalf("bounds = %v", b)
	}
}

func TestHistogramConcurrent(t *testing.T) {
	h := NewHistogram(1, 2, 3)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for range 1000 {
				h.Observe(uint64(g))
			}
		})
	}
	wg.Wait()
	count, sum, cum := h.Snapshot()
	if count != 4000 || sum != 6000 || !equal(cum, []uint64{2000, 3000, 4000}) {
		t.Fatalf("count %d sum %d cumulative %v", count, sum, cum)
	}
}

func TestHistogramMetricScales(t *testing.T) {
	h := NewHistogram(1e6, 1e9) // 1 ms, 1 s in nanoseconds
	h.Observe(5e5)
	h.Observe(2e9)
	desc := prometheus.NewDesc("gatewayworker_test_seconds", "test", []string{"event"}, nil)
	reg := prometheus.NewRegistry()
	reg.MustRegister(newFuncCollector(func(ch chan<- prometheus.Metric) {
		m, err := h.Metric(desc, 1e-9, "message")
		if err != nil {
			t.Error(err)
			return
		}
		ch <- m
	}, desc))
	got, err := Flatten(reg)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]float64{
		`gatewayworker_test_seconds_bucket{event="message",le="0.001"}`: 1,
		`gatewayworker_test_seconds_bucket{event="message",le="1"}`:     1,
		`gatewayworker_test_seconds_bucket{event="message",le="+Inf"}`:  2,
		`gatewayworker_test_seconds_sum{event="message"}`:               2.0005,
		`gatewayworker_test_seconds_count{event="message"}`:             2,
	}
	if len(got) != len(want) {
		t.Errorf("got %d samples, want %d: %v", len(got), len(want), got)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
}

func TestHistogramZeroValue(t *testing.T) {
	var h Histogram
	h.Observe(3)
	if count, sum, cum := h.Snapshot(); count != 0 || sum != 3 || len(cum) != 0 {
		t.Fatalf("zero value: count %d sum %d cum %v", count, sum, cum)
	}
}

func TestGRPCErrorsServerAndClient(t *testing.T) {
	srvErrs := NewGRPCErrors("gatewayworker_test_server_grpc_errors_total", "test")
	cliErrs := NewGRPCErrors("gatewayworker_test_client_grpc_errors_total", "test")
	srv := grpc.NewServer(srvErrs.ServerOptions()...)
	hs := health.NewServer()
	hs.SetServingStatus("up", healthpb.HealthCheckResponse_SERVING)
	healthpb.RegisterHealthServer(srv, hs)
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = srv.Serve(lis) })
	defer func() { srv.Stop(); wg.Wait() }()

	opts := append([]grpc.DialOption{grpc.WithTransportCredentials(insecure.NewCredentials())}, cliErrs.DialOptions()...)
	cc, err := grpc.NewClient(lis.Addr().String(), opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	ctx := t.Context()

	// One call that succeeds, two that fail with NotFound (unary).
	if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "up"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if _, err := client.Check(ctx, &healthpb.HealthCheckRequest{Service: "nope"}); status.Code(err) != codes.NotFound {
			t.Fatalf("Check(nope) = %v, want NotFound", err)
		}
	}
	// A stream the client cancels: Canceled on both sides.
	sctx, cancel := context.WithCancel(ctx)
	stream, err := client.Watch(sctx, &healthpb.HealthCheckRequest{Service: "up"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); err != nil {
		t.Fatal(err)
	}
	cancel()
	for {
		if _, err := stream.Recv(); err != nil {
			break
		}
	}
	if got := cliErrs.Count(codes.NotFound); got != 2 {
		t.Errorf("client NotFound = %d, want 2", got)
	}
	if got := cliErrs.Count(codes.Canceled); got != 1 {
		t.Errorf("client Canceled = %d, want 1", got)
	}
	waitFor(t, func() bool { return srvErrs.Count(codes.Canceled) == 1 })
	if got := srvErrs.Count(codes.NotFound); got != 2 {
		t.Errorf("server NotFound = %d, want 2", got)
	}
	if got := srvErrs.Count(codes.OK); got != 0 {
		t.Errorf("OK counted as an error: %d", got)
	}
	// Exported: every code but OK, at zero until counted.
	reg := prometheus.NewRegistry()
	reg.MustRegister(srvErrs)
	got, err := Flatten(reg)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != numCodes-1 {
		t.Errorf("series = %d, want %d", len(got), numCodes-1)
	}
	for c := 1; c < numCodes; c++ {
		want := 0.0
		switch codes.Code(c) {
		case codes.NotFound:
			want = 2
		case codes.Canceled:
			want = 1
		}
		k := `gatewayworker_test_server_grpc_errors_total{code="` + codes.Code(c).String() + `"}`
		if v, ok := got[k]; !ok || v != want {
			t.Errorf("%s = %v (present %v), want %v", k, v, ok, want)
		}
	}
}

func TestGRPCErrorsObserve(t *testing.T) {
	e := NewGRPCErrors("x_total", "x")
	e.Observe(nil)
	e.Observe(status.Error(codes.OK, ""))
	e.Observe(context.DeadlineExceeded)
	e.Observe(net.ErrClosed)
	if e.Count(codes.DeadlineExceeded) != 1 || e.Count(codes.Unknown) != 1 || e.Count(codes.OK) != 0 {
		t.Fatalf("deadline %d unknown %d ok %d", e.Count(codes.DeadlineExceeded), e.Count(codes.Unknown), e.Count(codes.OK))
	}
}

func TestNewRegistry(t *testing.T) {
	reg, err := NewRegistry()
	if err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"go_goroutines", "process_cpu_seconds_total", "go_build_info"} {
		if !names[n] {
			t.Errorf("registry lacks %s", n)
		}
	}
	if err := Register(nil, NewGRPCErrors("a_total", "a")); err != nil {
		t.Errorf("Register(nil) = %v", err)
	}
	var none *prometheus.Registry
	if err := Register(none, NewGRPCErrors("a_total", "a")); err != nil {
		t.Errorf("Register(nil *Registry) = %v", err)
	}
	c := NewGRPCErrors("gatewayworker_dup_total", "a")
	if err := Register(reg, c); err != nil {
		t.Fatal(err)
	}
	if err := Register(reg, c); err == nil {
		t.Error("registering twice succeeded")
	}
}

func BenchmarkHistogramObserve(b *testing.B) {
	h := NewHistogram(0, 1, 2, 5, 10, 100, 1000, 10000, 100000)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		v := uint64(0)
		for pb.Next() {
			h.Observe(v % 20000)
			v += 7
		}
	})
}

// funcCollector adapts a function to prometheus.Collector.
type funcCollector struct {
	collect func(ch chan<- prometheus.Metric)
	desc    *prometheus.Desc
}

func (f funcCollector) Collect(ch chan<- prometheus.Metric) { f.collect(ch) }
func (f funcCollector) Describe(ch chan<- *prometheus.Desc) { ch <- f.desc }

func newFuncCollector(f func(ch chan<- prometheus.Metric), desc *prometheus.Desc) prometheus.Collector {
	return funcCollector{f, desc}
}

func equal(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}
