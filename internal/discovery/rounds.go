package discovery

import (
	"context"
	"log/slog"
	"math/rand/v2"
	"slices"
	"time"
)

// stableSession is how long a session must have lasted for its end to count
// as a loss to fail over from at once rather than as a failed attempt.
const stableSession = time.Second

// session talks to one register until it fails or ctx is done. It reports
// whether the register accepted it (lease acknowledged, snapshot received).
type session func(ctx context.Context, addr string) (established bool, err error)

// runRounds runs sessions against addrs in a random order until ctx is done.
// A failed attempt moves to the next register at once; after a whole round of
// failures it sleeps bo.Next(). The end of a stable session resets bo and
// moves to the next register at once, so failover is quick and a cluster that
// is down is not hammered.
func runRounds(ctx context.Context, addrs []string, bo *Backoff, log *slog.Logger, run session) {
	order := slices.Clone(addrs)
	rand.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
	fails := 0
	for i := 0; ctx.Err() == nil; i++ {
		addr := order[i%len(order)]
		start := time.Now()
		ok, err := run(ctx, addr)
		if ctx.Err() != nil {
			return
		}
		if ok && time.Since(start) >= stableSession {
			bo.Reset()
			fails = 0
			log.Info("register lost, failing over", "register", addr, "err", err)
			continue
		}
		fails++
		log.Warn("register attempt failed", "register", addr, "err", err)
		if fails%len(order) == 0 {
			if !sleep(ctx, bo.Next()) {
				return
			}
		}
	}
}

// validBackoff fills and checks a min/max backoff pair.
func validBackoff(lo, hi time.Duration) (time.Duration, time.Duration, bool) {
	if lo == 0 {
		lo = DefaultMinBackoff
	}
	if hi == 0 {
		hi = DefaultMaxBackoff
	}
	return lo, hi, lo > 0 && hi >= lo
}

func discardIfNil(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
