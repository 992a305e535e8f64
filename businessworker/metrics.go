package businessworker

import (
	"fmt"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/metrics"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Event kinds of the handling-latency histogram.
const (
	kindConnect = iota
	kindMessage
	kindClose
	numKinds
)

// kindName is the event label of an event kind.
func kindName(k int) string {
	switch k {
	case kindConnect:
		return "connect"
	case kindClose:
		return "close"
	}
	return "message"
}

// durationBounds are the buckets of the handling latency, in nanoseconds:
// 100 µs to 10 s.
func durationBounds() []uint64 {
	ms := uint64(time.Millisecond)
	return []uint64{ms / 10, ms / 4, ms / 2, ms, 2 * ms, 5 * ms, 10 * ms, 25 * ms, 50 * ms, 100 * ms,
		250 * ms, 500 * ms, 1000 * ms, 2500 * ms, 5000 * ms, 10000 * ms}
}

// workerMetrics are the counters a Worker keeps for Prometheus: two clock
// reads and two atomic adds per event.
type workerMetrics struct {
	handle [numKinds]*metrics.Histogram // handler time per event kind, ns
	panics atomic.Uint64
	// connectRefused counts clients OnConnect refused or failed.
	connectRefused atomic.Uint64
	grpc           *metrics.GRPCErrors
}

func (m *workerMetrics) init() {
	for i := range m.handle {
		m.handle[i] = metrics.NewHistogram(durationBounds()...)
	}
	m.grpc = metrics.NewGRPCErrors(metrics.Namespace+"_worker_grpc_errors_total",
		"Calls of this worker to registers and gateways (watch, links) that ended with an error, by status code.")
}

// handled records the handling time of ev, begun at start (worker.go).
func (m *workerMetrics) handled(ev *pb.Event, start time.Time) {
	k := kindMessage
	switch ev.GetKind().(type) {
	case *pb.Event_Connect:
		k = kindConnect
	case *pb.Event_Close:
		k = kindClose
	case *pb.Event_Message:
	default:
		return
	}
	m.handle[k].Observe(uint64(time.Since(start)))
}

// registerMetrics registers the worker's collector on r (nil: none).
func (w *Worker) registerMetrics(r prometheus.Registerer) error {
	if err := metrics.Register(r, newCollector(w)); err != nil {
		return fmt.Errorf("%w: Metrics: %w", ErrInvalidConfig, err)
	}
	return nil
}

// collector exports a Worker's state to Prometheus.
type collector struct {
	w                                          *Worker
	duration, panics, gateways, links, leading *prometheus.Desc
	slow, clientStates, expired, refused       *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(w *Worker) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(metrics.Namespace+"_worker_"+name, help, labels, nil)
	}
	return &collector{
		w:            w,
		duration:     d("event_duration_seconds", "Time to handle one client event (the handler and the session write-back), by event: connect (OnConnect and its reply's commands), message, close.", "event"),
		refused:      d("connects_refused_total", "Clients closed by OnConnect: a Refuse reply or an error."),
		panics:       d("handler_panics_total", "Handler calls that panicked (recovered and logged)."),
		gateways:     d("gateways", "Live gateways the register reports to this worker."),
		links:        d("links", "Gateways this worker is linked to now."),
		leading:      d("leader", "1 while this worker is the cluster leader (see Worker.IsLeader), else 0."),
		clientStates: d("client_states", "Clients this worker remembers between their events (remote address, session changes not yet confirmed); see Config.ClientIdleTimeout."),
		expired:      d("commands_expired_total", "Commands dropped unsent because they waited for their gateway longer than Config.MaxQueueAge."),
		slow:         d("slow_handlers_total", "Event handlers that ran longer than Config.SlowHandler (each counted once, while still running)."),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.duration, c.panics, c.gateways, c.links, c.leading, c.slow, c.clientStates, c.expired, c.refused} {
		ch <- d
	}
	c.w.metrics.grpc.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	w := c.w
	for k, h := range w.metrics.handle {
		if m, err := h.Metric(c.duration, 1e-9, kindName(k)); err == nil {
			ch <- m
		}
	}
	nodes := w.l.Nodes()
	linked := 0
	for _, n := range nodes {
		if w.l.Linked(n) {
			linked++
		}
	}
	leader := 0.0
	if w.IsLeader() {
		leader = 1
	}
	ch <- prometheus.MustNewConstMetric(c.refused, prometheus.CounterValue, float64(w.metrics.connectRefused.Load()))
	ch <- prometheus.MustNewConstMetric(c.panics, prometheus.CounterValue, float64(w.metrics.panics.Load()))
	ch <- prometheus.MustNewConstMetric(c.gateways, prometheus.GaugeValue, float64(len(nodes)))
	ch <- prometheus.MustNewConstMetric(c.links, prometheus.GaugeValue, float64(linked))
	ch <- prometheus.MustNewConstMetric(c.leading, prometheus.GaugeValue, leader)
	ch <- prometheus.MustNewConstMetric(c.slow, prometheus.CounterValue, float64(w.l.SlowHandlers()))
	ch <- prometheus.MustNewConstMetric(c.clientStates, prometheus.GaugeValue, float64(w.states.len()))
	ch <- prometheus.MustNewConstMetric(c.expired, prometheus.CounterValue, float64(w.l.ExpiredCommands()))
	w.metrics.grpc.Collect(ch)
}
