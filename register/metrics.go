package register

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/metrics"
)

// registerMetrics are the counters a Register keeps for Prometheus.
type registerMetrics struct {
	rejected atomic.Uint64 // calls refused for a wrong or missing secret
	grpc     *metrics.GRPCErrors
}

// initMetrics creates the counters and, when Config.Metrics is set,
// registers the register's collector there.
func (r *Register) initMetrics() error {
	r.metrics.grpc = metrics.NewGRPCErrors(metrics.Namespace+"_register_grpc_errors_total",
		"Calls of the Register service (Announce, Watch, Lease) that ended with an error, by status code.")
	if err := metrics.Register(r.cfg.Metrics, newCollector(r)); err != nil {
		return fmt.Errorf("%w: Metrics: %w", ErrInvalidConfig, err)
	}
	return nil
}

// Ready reports whether the register serves: Serve was called, its ctx is
// not done and, with a ClusterStore that has Join addresses, it has joined
// the cluster (ClusterStore.Joined). It returns an error wrapping
// ErrNotReady otherwise, saying which. For readiness probes (/readyz).
func (r *Register) Ready() error {
	if !r.served.Load() {
		return fmt.Errorf("%w: not serving", ErrNotReady)
	}
	select {
	case <-r.stopping:
		return fmt.Errorf("%w: stopping", ErrNotReady)
	default:
	}
	if cs, ok := r.store.(*ClusterStore); ok && !cs.Joined() {
		if cs.JoinEnded() {
			return fmt.Errorf("%w: no Join address answered within the join timeout; running alone, retrying every rejoin interval", ErrNotReady)
		}
		return fmt.Errorf("%w: joining the register cluster", ErrNotReady)
	}
	return nil
}

// members returns the number of registers in the cluster this register's
// store belongs to: 1 without a cluster store.
func (r *Register) members() int {
	if cs, ok := r.store.(*ClusterStore); ok {
		return len(cs.Members())
	}
	return 1
}

// collector exports a Register's state to Prometheus.
type collector struct {
	r                                 *Register
	gateways, members, ready, refused *prometheus.Desc
	leaseGrants, leaseRefusals        *prometheus.Desc
	clusterSize                       *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(r *Register) *collector {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc(metrics.Namespace+"_register_"+name, help, nil, nil)
	}
	return &collector{
		r:        r,
		gateways: d("gateways", "Live gateways (leases held) known to this register; with a cluster store, the cluster's."),
		members:  d("members", "Registers in the cluster seen by this register's store (1 without a cluster)."),
		ready:    d("ready", "1 while the register serves, else 0."),
		refused:  d("calls_rejected_total", "Calls refused for a missing or wrong cluster secret."),
		leaseGrants: d("leader_lease_grants_total",
			"Leader-lease requests granted (new holder or renewal)."),
		leaseRefusals: d("leader_lease_refusals_total",
			"Leader-lease requests refused: another holder's grant runs, or the register started less than MaxLeaderTTL ago."),
		clusterSize: d("cluster_size", "Registers counted for leader-lease majorities (Config.ClusterSize or the cluster store's Size)."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	ch <- c.gateways
	ch <- c.members
	ch <- c.ready
	ch <- c.refused
	ch <- c.leaseGrants
	ch <- c.leaseRefusals
	ch <- c.clusterSize
	c.r.metrics.grpc.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	r := c.r
	ready := 0.0
	if r.Ready() == nil {
		ready = 1
	}
	ch <- prometheus.MustNewConstMetric(c.gateways, prometheus.GaugeValue, float64(len(r.Gateways())))
	ch <- prometheus.MustNewConstMetric(c.members, prometheus.GaugeValue, float64(r.members()))
	ch <- prometheus.MustNewConstMetric(c.ready, prometheus.GaugeValue, ready)
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(r.metrics.rejected.Load()))
	granted, refused := r.leaders.counts()
	ch <- prometheus.MustNewConstMetric(c.leaseGrants, prometheus.CounterValue, float64(granted))
	ch <- prometheus.MustNewConstMetric(c.leaseRefusals, prometheus.CounterValue, float64(refused))
	ch <- prometheus.MustNewConstMetric(c.clusterSize, prometheus.GaugeValue, float64(r.clusterSize()))
	r.metrics.grpc.Collect(ch)
}
