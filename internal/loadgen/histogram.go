package loadgen

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"sync/atomic"
)

// Log-linear buckets: values below 2^subBits nanoseconds have a bucket each;
// above, every power of two is split into 2^subBits buckets, so a bucket is at
// most 1/16 (6.25%) of its value wide. Values from 2^maxBits ns (~137 s) up
// land in the last bucket; Max stays exact.
const (
	subBits    = 4
	subCount   = 1 << subBits
	maxBits    = 37
	numBuckets = (maxBits - subBits + 1) * subCount
)

func bucketOf(v int64) int {
	if v < subCount {
		if v < 0 {
			return 0
		}
		return int(v)
	}
	l := bits.Len64(uint64(v))
	if l > maxBits {
		return numBuckets - 1
	}
	shift := l - subBits - 1
	m := int(uint64(v) >> uint(shift)) // in [subCount, 2*subCount)
	return (shift+1)*subCount + m - subCount
}

// bucketRange returns the lowest value of bucket i and its width.
func bucketRange(i int) (low, width int64) {
	if i < subCount {
		return int64(i), 1
	}
	shift := i/subCount - 1
	m := int64(subCount + i%subCount)
	return m << uint(shift), 1 << uint(shift)
}

// Recorder collects latencies for one goroutine. Record is lock-free: the
// owner adds with atomic operations, which cost little uncontended, so that
// Histogram.AddRecorder may read it at any time from another goroutine. Its
// counters are 32-bit to keep one Recorder per connection small (2 KiB).
type Recorder struct {
	counts [numBuckets]uint32
	max    atomic.Int64
}

// Record adds one value in nanoseconds. Only one goroutine may call it.
func (r *Recorder) Record(ns int64) {
	atomic.AddUint32(&r.counts[bucketOf(ns)], 1)
	if ns > r.max.Load() {
		r.max.Store(ns)
	}
}

// Histogram is a merged, immutable-by-convention set of latency counts.
// The zero value is empty and ready to use.
type Histogram struct {
	counts [numBuckets]uint64
	total  uint64
	max    int64
}

// AddRecorder adds the counts of r, read atomically.
func (h *Histogram) AddRecorder(r *Recorder) {
	for i := range r.counts {
		if c := atomic.LoadUint32(&r.counts[i]); c != 0 {
			h.counts[i] += uint64(c)
			h.total += uint64(c)
		}
	}
	if m := r.max.Load(); m > h.max {
		h.max = m
	}
}

// Merge adds the counts of o.
func (h *Histogram) Merge(o *Histogram) {
	if o == nil {
		return
	}
	for i, c := range o.counts {
		h.counts[i] += c
	}
	h.total += o.total
	if o.max > h.max {
		h.max = o.max
	}
}

// Count returns the number of recorded values.
func (h *Histogram) Count() uint64 { return h.total }

// Max returns the largest recorded value in nanoseconds.
func (h *Histogram) Max() int64 { return h.max }

// Quantile returns the value at quantile q (0..1) in nanoseconds: the middle
// of the bucket holding it, never above Max. It returns 0 when empty.
func (h *Histogram) Quantile(q float64) int64 {
	if h.total == 0 {
		return 0
	}
	rank := uint64(q*float64(h.total) + 0.5)
	if rank < 1 {
		rank = 1
	}
	if rank > h.total {
		rank = h.total
	}
	var seen uint64
	for i, c := range h.counts {
		seen += c
		if seen >= rank {
			low, width := bucketRange(i)
			v := low + width/2
			if v > h.max {
				v = h.max
			}
			return v
		}
	}
	return h.max
}

// histogramJSON is the sparse wire form: [bucket index, count] pairs.
type histogramJSON struct {
	Max    int64       `json:"max_ns"`
	Counts [][2]uint64 `json:"counts"`
}

// MarshalJSON encodes the non-empty buckets only.
func (h *Histogram) MarshalJSON() ([]byte, error) {
	out := histogramJSON{Max: h.max, Counts: [][2]uint64{}}
	for i, c := range h.counts {
		if c != 0 {
			out.Counts = append(out.Counts, [2]uint64{uint64(i), c})
		}
	}
	return json.Marshal(out)
}

// UnmarshalJSON decodes what MarshalJSON produced.
func (h *Histogram) UnmarshalJSON(b []byte) error {
	var in histogramJSON
	if err := json.Unmarshal(b, &in); err != nil {
		return err
	}
	*h = Histogram{max: in.Max}
	for _, p := range in.Counts {
		if p[0] >= numBuckets {
			return fmt.Errorf("%w: histogram bucket %d out of range", ErrChild, p[0])
		}
		h.counts[p[0]] += p[1]
		h.total += p[1]
	}
	return nil
}
