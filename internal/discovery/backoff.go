package discovery

import (
	"context"
	"math/rand/v2"
	"time"
)

// Backoff computes the delays of a reconnect loop: exponential growth from Min
// to Max with full jitter. The zero value uses DefaultMinBackoff and
// DefaultMaxBackoff. A Backoff is not safe for concurrent use; each loop owns
// its own.
type Backoff struct {
	Min, Max time.Duration // 0: DefaultMinBackoff, DefaultMaxBackoff

	attempt uint
}

// Next returns the delay before the next attempt and advances the backoff.
// The n-th call (from 0) draws uniformly from [Min/2, min(Max, Min·2ⁿ)]:
// full jitter, floored at Min/2 so that a retry loop never spins.
func (b *Backoff) Next() time.Duration {
	lo, hi := b.Min, b.Max
	if lo <= 0 {
		lo = DefaultMinBackoff
	}
	if hi <= 0 {
		hi = DefaultMaxBackoff
	}
	if hi < lo {
		hi = lo
	}
	d := lo
	for i := uint(0); i < b.attempt && d < hi; i++ {
		d *= 2
	}
	if d > hi || d <= 0 {
		d = hi
	}
	if d < hi {
		b.attempt++
	}
	floor := lo / 2
	return floor + rand.N(d-floor+1)
}

// Reset starts the backoff again from Min, after a successful attempt.
func (b *Backoff) Reset() { b.attempt = 0 }

// sleep waits for d or until ctx is done; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
