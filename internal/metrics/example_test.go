package metrics_test

import (
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/metrics"
)

// A hot path observes into a Histogram; a collector exports it at scrape
// time, here in seconds.
func ExampleHistogram() {
	h := metrics.NewHistogram(uint64(time.Millisecond), uint64(time.Second))
	h.Observe(uint64(300 * time.Microsecond))
	h.Observe(uint64(2 * time.Second))
	count, sum, cumulative := h.Snapshot()
	fmt.Println(count, time.Duration(sum), cumulative)

	desc := prometheus.NewDesc("gatewayworker_example_seconds", "Example.", nil, nil)
	m, err := h.Metric(desc, 1e-9)
	fmt.Println(m.Desc() == desc, err)
	// Output:
	// 2 2.0003s [1 1]
	// true <nil>
}

// NewRegistry is what a process serves on /metrics; each role registers
// its collector there through its Config.Metrics.
func ExampleNewRegistry() {
	reg, err := metrics.NewRegistry()
	if err != nil {
		fmt.Println(err)
		return
	}
	errs := metrics.NewGRPCErrors("gatewayworker_example_grpc_errors_total", "Example.")
	fmt.Println(metrics.Register(reg, errs))
	samples, _ := metrics.Flatten(reg)
	fmt.Println(samples[`gatewayworker_example_grpc_errors_total{code="Unavailable"}`])
	// Output:
	// <nil>
	// 0
}
