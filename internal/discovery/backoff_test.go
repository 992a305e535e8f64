package discovery_test

import (
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
)

func TestBackoffBoundsAndGrowth(t *testing.T) {
	b := discovery.Backoff{Min: 10 * time.Millisecond, Max: 80 * time.Millisecond}
	ceil := 10 * time.Millisecond
	for i := range 20 {
		d := b.Next()
		if d < 5*time.Millisecond || d > ceil {
			t.Fatalf("attempt %d: %v outside [5ms, %v]", i, d, ceil)
		}
		ceil = min(2*ceil, 80*time.Millisecond)
	}
	// Full jitter: at the cap, draws spread over the window.
	lo, hi := time.Hour, time.Duration(0)
	for range 200 {
		d := b.Next()
		lo, hi = min(lo, d), max(hi, d)
	}
	if hi-lo < 40*time.Millisecond {
		t.Fatalf("draws at the cap span only %v..%v", lo, hi)
	}
	b.Reset()
	if d := b.Next(); d > 10*time.Millisecond {
		t.Fatalf("after Reset: %v, want <= Min", d)
	}
}

func TestBackoffZeroValue(t *testing.T) {
	var b discovery.Backoff
	for range 100 {
		if d := b.Next(); d < discovery.DefaultMinBackoff/2 || d > discovery.DefaultMaxBackoff {
			t.Fatalf("zero Backoff gave %v", d)
		}
	}
}

func BenchmarkBackoffNext(b *testing.B) {
	bo := discovery.Backoff{Min: time.Millisecond, Max: time.Second}
	b.ReportAllocs()
	for b.Loop() {
		bo.Next()
	}
}
