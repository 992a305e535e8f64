package loadgen

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"testing"
)

func TestBucketsCoverValues(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 100000 {
		v := int64(rng.Uint64N(1 << maxBits))
		i := bucketOf(v)
		low, width := bucketRange(i)
		if v < low || v >= low+width {
			t.Fatalf("value %d in bucket %d = [%d, %d)", v, i, low, low+width)
		}
		if width > 1 && float64(width)/float64(low) > 1.0/subCount+1e-9 {
			t.Fatalf("bucket %d too wide: %d at %d", i, width, low)
		}
	}
	if got := bucketOf(math.MaxInt64); got != numBuckets-1 {
		t.Fatalf("huge value in bucket %d, want last %d", got, numBuckets-1)
	}
	if got := bucketOf(-5); got != 0 {
		t.Fatalf("negative value in bucket %d, want 0", got)
	}
}

func TestHistogramQuantiles(t *testing.T) {
	var r Recorder
	// 1..10000 µs, uniform.
	for v := int64(1); v <= 10000; v++ {
		r.Record(v * 1000)
	}
	var h Histogram
	h.AddRecorder(&r)
	if h.Count() != 10000 {
		t.Fatalf("count %d", h.Count())
	}
	if h.Max() != 10_000_000 {
		t.Fatalf("max %d", h.Max())
	}
	for _, tc := range []struct {
		q    float64
		want float64
	}{{0.5, 5e6}, {0.9, 9e6}, {0.99, 9.9e6}, {0.001, 1e4}, {1, 1e7}} {
		got := float64(h.Quantile(tc.q))
		if math.Abs(got-tc.want)/tc.want > 0.04 {
			t.Errorf("q%.3f = %.0f, want %.0f ±4%%", tc.q, got, tc.want)
		}
	}
	var empty Histogram
	if empty.Quantile(0.5) != 0 {
		t.Fatal("empty histogram has a quantile")
	}
}

func TestHistogramMergeAndJSON(t *testing.T) {
	var r1, r2 Recorder
	for i := range 1000 {
		r1.Record(int64(i) * 1000)
		r2.Record(int64(i) * 7000)
	}
	var a, b Histogram
	a.AddRecorder(&r1)
	b.AddRecorder(&r2)
	var merged Histogram
	merged.Merge(&a)
	merged.Merge(&b)
	merged.Merge(nil)
	if merged.Count() != 2000 || merged.Max() != 999*7000 {
		t.Fatalf("merged count %d max %d", merged.Count(), merged.Max())
	}
	raw, err := json.Marshal(&merged)
	if err != nil {
		t.Fatal(err)
	}
	var back Histogram
	if err := json.Unmarshal(raw, &back); err != nil {
		t.Fatal(err)
	}
	if back != merged {
		t.Fatal("histogram changed through JSON")
	}
	if err := json.Unmarshal([]byte(`{"max_ns":1,"counts":[[99999,1]]}`), &back); err == nil {
		t.Fatal("bucket out of range accepted")
	}
}

func BenchmarkRecorderRecord(b *testing.B) {
	var r Recorder
	b.ReportAllocs()
	v := int64(1)
	for b.Loop() {
		v = v*6364136223846793005 + 1442695040888963407
		r.Record((v >> 40) & 0xffffff)
	}
}
