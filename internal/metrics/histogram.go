package metrics

import (
	"slices"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Namespace starts the name of every gatewayworker metric.
const Namespace = "gatewayworker"

// Histogram counts non-negative integer observations (recipients,
// nanoseconds) in fixed buckets. Observe is a bucket search and two atomic
// adds, with no lock and no allocation, so hot paths may call it; Metric
// exports a snapshot to Prometheus at scrape time. It is safe for
// concurrent use. The zero value has a single +Inf bucket.
type Histogram struct {
	bounds []uint64        // ascending inclusive upper bounds
	counts []atomic.Uint64 // len(bounds)+1; the last is +Inf
	sum    atomic.Uint64
}

// NewHistogram returns a histogram with the given bucket upper bounds
// (inclusive); they are sorted and deduplicated.
func NewHistogram(bounds ...uint64) *Histogram {
	b := slices.Clone(bounds)
	slices.Sort(b)
	b = slices.Compact(b)
	return &Histogram{bounds: b, counts: make([]atomic.Uint64, len(b)+1)}
}

// Observe records one value.
func (h *Histogram) Observe(v uint64) {
	if h.counts == nil {
		h.sum.Add(v)
		return
	}
	i, _ := slices.BinarySearch(h.bounds, v)
	h.counts[i].Add(1)
	h.sum.Add(v)
}

// Snapshot returns the number of observations, their sum and the
// cumulative count of each bucket (bucket i counts the values <=
// Bounds()[i]). Buckets are read one by one while observations may go on,
// so the figures of a busy histogram are off by the observations made
// during the call.
func (h *Histogram) Snapshot() (count, sum uint64, cumulative []uint64) {
	cumulative = make([]uint64, len(h.bounds))
	for i := range h.bounds {
		count += h.counts[i].Load()
		cumulative[i] = count
	}
	if h.counts != nil {
		count += h.counts[len(h.bounds)].Load()
	}
	return count, h.sum.Load(), cumulative
}

// Bounds returns the bucket upper bounds.
func (h *Histogram) Bounds() []uint64 { return slices.Clone(h.bounds) }

// Metric exports a snapshot as a Prometheus histogram of desc with the
// given label values; every value and bound is multiplied by scale (1e-9
// turns nanoseconds into seconds).
func (h *Histogram) Metric(desc *prometheus.Desc, scale float64, labelValues ...string) (prometheus.Metric, error) {
	count, sum, cum := h.Snapshot()
	buckets := make(map[float64]uint64, len(cum))
	for i, b := range h.bounds {
		buckets[float64(b)*scale] = cum[i]
	}
	return prometheus.NewConstHistogram(desc, count, float64(sum)*scale, buckets, labelValues...)
}
