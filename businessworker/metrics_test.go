package businessworker

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
	"github.com/gatewayworker/gatewayworker/internal/metrics"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

const wk = "gatewayworker_worker_"

// timedHandler sleeps on "slow" and panics on "boom".
type timedHandler struct{ BaseHandler }

func (timedHandler) OnMessage(_ context.Context, e MessageEvent) {
	msg := e.Message
	switch string(msg.Data) {
	case "slow":
		time.Sleep(30 * time.Millisecond)
	case "boom":
		panic("boom")
	}
}

func flatten(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	m, err := metrics.Flatten(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestMetricsTellTheTruth feeds a worker known events and compares its
// metrics with them.
func TestMetricsTellTheTruth(t *testing.T) {
	reg := prometheus.NewRegistry()
	g := linkertest.NewGateway(t, 0x2001)
	w := startWorker(t, Config{Handler: timedHandler{}, Metrics: reg}, linkertest.NewSource(g))
	linkertest.WaitFor(t, "linked", testWait, func() bool {
		m := flatten(t, reg)
		return m[wk+"links"] == 1 && m[wk+"gateways"] == 1
	})
	if m := flatten(t, reg); m[wk+"leader"] != 0 {
		t.Fatalf("leader = %v before any worker set", m[wk+"leader"])
	}

	evs := []*pb.Event{
		{Seq: 1, Conn: 7, Kind: &pb.Event_Connect{Connect: &pb.Connect{RemoteAddr: "127.0.0.1:1"}}},
		msgEvent(2, 7, "a"), msgEvent(3, 7, "b"), msgEvent(4, 7, "slow"), msgEvent(5, 7, "boom"),
		{Seq: 6, Conn: 7, Kind: &pb.Event_Close{Close: &pb.Close{Code: 1000}}},
	}
	g.Push(&pb.LinkResponse{Events: evs, Workers: []string{w.ID()}, WorkersChanged: true})
	linkertest.WaitFor(t, "all acked", testWait, func() bool { return g.AckedAll(6) })

	m := flatten(t, reg)
	for k, want := range map[string]float64{
		wk + `event_duration_seconds_count{event="connect"}`:            1,
		wk + `event_duration_seconds_count{event="message"}`:            4,
		wk + `event_duration_seconds_count{event="close"}`:              1,
		wk + `event_duration_seconds_bucket{event="message",le="+Inf"}`: 4,
		wk + `event_duration_seconds_bucket{event="message",le="0.01"}`: 3, // all but "slow"
		wk + "handler_panics_total":                                     1,
		wk + "leader":                                                   1,
		wk + `grpc_errors_total{code="Unavailable"}`:                    0,
	} {
		if got, ok := m[k]; !ok || got != want {
			t.Errorf("%s = %v (present: %v), want %v", k, got, ok, want)
		}
	}
	if s := m[wk+`event_duration_seconds_sum{event="message"}`]; s < 0.03 || s > 5 {
		t.Errorf("message handling time sum = %vs, want >= the 30 ms of the slow one", s)
	}

	// The link breaks: one gRPC error, the link is down, then back.
	g.Break()
	linkertest.WaitFor(t, "the broken link counted", testWait, func() bool {
		m := flatten(t, reg)
		total := 0.0
		for k, v := range m {
			if strings.HasPrefix(k, wk+"grpc_errors_total{") {
				total += v
			}
		}
		return total == 1
	})
	linkertest.WaitFor(t, "relinked", testWait, func() bool { return flatten(t, reg)[wk+"links"] == 1 })
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	cfg := Config{Registers: []string{"127.0.0.1:1"}, Handler: BaseHandler{}, Metrics: reg}
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("second New on one registry = %v, want ErrInvalidConfig", err)
	}
}

// ExampleConfig_metrics exports a worker's metrics (event handling
// latency, links, gRPC errors) to a Prometheus registry; serve it with
// promhttp.HandlerFor(reg, promhttp.HandlerOpts{}) on an address of your
// choice.
func ExampleConfig_metrics() {
	reg := prometheus.NewRegistry()
	_, err := New(Config{
		Registers: []string{"127.0.0.1:1236"},
		Handler:   BaseHandler{},
		Metrics:   reg,
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	// w.Run(ctx) ...
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetType())
	}
	// Output:
	// gatewayworker_worker_client_states GAUGE
	// gatewayworker_worker_commands_expired_total COUNTER
	// gatewayworker_worker_connects_refused_total COUNTER
	// gatewayworker_worker_event_duration_seconds HISTOGRAM
	// gatewayworker_worker_gateways GAUGE
	// gatewayworker_worker_grpc_errors_total COUNTER
	// gatewayworker_worker_handler_panics_total COUNTER
	// gatewayworker_worker_leader GAUGE
	// gatewayworker_worker_links GAUGE
	// gatewayworker_worker_slow_handlers_total COUNTER
}
