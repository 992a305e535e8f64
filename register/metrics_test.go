package register

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatewayworker/gatewayworker/internal/metrics"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

const rg = "gatewayworker_register_"

func samples(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	m, err := metrics.Flatten(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func wantSamples(t *testing.T, reg prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	got := samples(t, reg)
	for k, v := range want {
		if g, ok := got[k]; !ok || g != v {
			t.Errorf("%s = %v (present: %v), want %v", k, g, ok, v)
		}
	}
}

// TestMetricsTellTheTruth compares the register's metrics with what the
// test did: gateways announced, calls refused, calls failed.
func TestMetricsTellTheTruth(t *testing.T) {
	reg := prometheus.NewRegistry()
	r := newRegister(t, Config{Secret: "s3cret", Metrics: reg})
	if err := r.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready before Serve = %v", err)
	}
	wantSamples(t, reg, map[string]float64{rg + "ready": 0, rg + "gateways": 0, rg + "members": 1})
	addr, stop := serve(t, r)
	waitFor(t, 5*time.Second, "ready while serving", func() bool { return r.Ready() == nil })

	// Two gateways announce themselves.
	c := client(t, addr, "s3cret")
	announce(t, t.Context(), c, gw(1), time.Minute)
	announce(t, t.Context(), c, gw(2), time.Minute)
	wantSamples(t, reg, map[string]float64{rg + "ready": 1, rg + "gateways": 2})

	// One call without the secret, one malformed announce.
	w, err := client(t, addr, "").Watch(t.Context(), &pb.WatchRequest{})
	if err == nil {
		_, err = w.Recv()
	}
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("watch without secret: %v", err)
	}
	st, err := c.Announce(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Send(&pb.AnnounceRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("bad announce: %v", err)
	}
	waitFor(t, 5*time.Second, "the error counted", func() bool {
		return samples(t, reg)[rg+`grpc_errors_total{code="InvalidArgument"}`] == 1
	})
	wantSamples(t, reg, map[string]float64{
		rg + "calls_rejected_total":                      1,
		rg + `grpc_errors_total{code="Unauthenticated"}`: 0, // refused before the service
		rg + `grpc_errors_total{code="Internal"}`:        0,
	})

	stop()
	if err := r.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready after stop = %v", err)
	}
	wantSamples(t, reg, map[string]float64{rg + "ready": 0})
}

func TestMetricsMembersOfACluster(t *testing.T) {
	a := newClusterStore(t, "a")
	b := newClusterStore(t, "b", a.Addr())
	regA, regB := prometheus.NewRegistry(), prometheus.NewRegistry()
	newRegister(t, Config{Store: a, Metrics: regA})
	newRegister(t, Config{Store: b, Metrics: regB})
	waitFor(t, 5*time.Second, "two members seen by both", func() bool {
		return samples(t, regA)[rg+"members"] == 2 && samples(t, regB)[rg+"members"] == 2
	})
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	newRegister(t, Config{Metrics: reg})
	if _, err := New(Config{Metrics: reg}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("second New on one registry = %v, want ErrInvalidConfig", err)
	}
}

// ExampleConfig_metrics exports a register's metrics to a Prometheus
// registry, served on an admin address with promhttp.
func ExampleConfig_metrics() {
	reg := prometheus.NewRegistry()
	r, err := New(Config{Metrics: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = r // r.Serve(ctx, lis) ...
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetType())
	}
	// Output:
	// gatewayworker_register_calls_rejected_total COUNTER
	// gatewayworker_register_cluster_size GAUGE
	// gatewayworker_register_gateways GAUGE
	// gatewayworker_register_grpc_errors_total COUNTER
	// gatewayworker_register_leader_lease_grants_total COUNTER
	// gatewayworker_register_leader_lease_refusals_total COUNTER
	// gatewayworker_register_members GAUGE
	// gatewayworker_register_ready GAUGE
}
