package metrics

import (
	"fmt"
	"reflect"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// NewRegistry returns a registry with the Go runtime, process and build
// information collectors (go_*, process_*, go_build_info) registered: the
// registry a gatewayworker process serves on /metrics. The roles register
// their own collectors on it through their Config.Metrics.
func NewRegistry() (*prometheus.Registry, error) {
	r := prometheus.NewRegistry()
	for _, c := range []prometheus.Collector{
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		collectors.NewBuildInfoCollector(),
	} {
		if err := r.Register(c); err != nil {
			return nil, fmt.Errorf("metrics: %w", err)
		}
	}
	return r, nil
}

// Register registers c on r; a nil r (or a nil *prometheus.Registry in r)
// registers nothing. It is how a role's New applies its Config.Metrics.
func Register(r prometheus.Registerer, c prometheus.Collector) error {
	if r == nil {
		return nil
	}
	if v := reflect.ValueOf(r); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	if err := r.Register(c); err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	return nil
}
