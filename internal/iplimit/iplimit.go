// Package iplimit keeps per-address limits of a public listener: how many
// connections one client address holds, and how fast it may open new ones
// (a token bucket of handshakes).
//
// An IPv6 client is counted by its /64 prefix (one subscriber's network
// usually is a /64, and a host can pick any address in it); an IPv4 client
// (or an IPv4-mapped IPv6 address) by its address.
//
// Memory stays bounded by the addresses currently active: an entry is
// dropped once the address holds no connection and its bucket is full again
// (checked by a sweep of the entries when their number doubled since the
// last sweep, and at least once a minute while any change happens).
package iplimit

import (
	"errors"
	"net/netip"
	"sync"
	"time"
)

// Result of Acquire.
type Result uint8

const (
	// OK: the connection is admitted and counted; Release it when it ends.
	OK Result = iota
	// TooManyConnections: the address already holds MaxConnections.
	TooManyConnections
	// RateLimited: the address opened connections faster than Rate (its
	// bucket is empty).
	RateLimited
)

// Config of a Limiter. A zero field disables its limit.
type Config struct {
	// MaxConnections caps the connections of one address (0: no cap).
	MaxConnections int
	// Rate is the handshakes per second one address may start over time,
	// Burst how many at once (default: max(1, Rate)). 0: no rate limit.
	Rate  float64
	Burst int
	// Now returns the current time (time.Now if nil); for tests.
	Now func() time.Time
}

// ErrInvalidConfig is returned by New for negative limits.
var ErrInvalidConfig = errors.New("iplimit: invalid config")

// shards spread the lock; a power of two.
const shards = 32

// sweepEvery is the longest time between two sweeps of a shard that changes.
const sweepEvery = time.Minute

// Limiter counts connections and handshakes per address. It is safe for
// concurrent use. A nil *Limiter admits everything.
type Limiter struct {
	cfg    Config
	shards [shards]shard
}

type shard struct {
	mu        sync.Mutex
	m         map[netip.Addr]*entry
	lastSweep time.Time
	sweepAt   int // sweep when len(m) reaches this
}

type entry struct {
	conns    int
	tokens   float64
	tokensAt time.Time
}

// New returns a Limiter, or nil when cfg sets no limit.
func New(cfg Config) (*Limiter, error) {
	if cfg.MaxConnections < 0 || cfg.Rate < 0 || cfg.Burst < 0 {
		return nil, ErrInvalidConfig
	}
	if cfg.MaxConnections == 0 && cfg.Rate == 0 {
		return nil, nil
	}
	if cfg.Rate > 0 && cfg.Burst == 0 {
		cfg.Burst = max(1, int(cfg.Rate))
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	l := &Limiter{cfg: cfg}
	for i := range l.shards {
		l.shards[i].m = make(map[netip.Addr]*entry)
		l.shards[i].sweepAt = 64
	}
	return l, nil
}

// Key is the address a client is counted under: addr itself for IPv4, its
// /64 prefix for IPv6.
func Key(addr netip.Addr) netip.Addr {
	addr = addr.Unmap().WithZone("")
	if addr.Is6() {
		p, _ := addr.Prefix(64)
		return p.Addr()
	}
	return addr
}

func (l *Limiter) shard(key netip.Addr) *shard {
	b := key.As16()
	h := uint32(2166136261)
	for _, c := range b[:8] { // an IPv6 key is a /64: its last 8 bytes are zero
		h = (h ^ uint32(c)) * 16777619
	}
	h = (h ^ uint32(b[12]) ^ uint32(b[13])<<8 ^ uint32(b[14])<<16 ^ uint32(b[15])<<24) * 16777619
	return &l.shards[h&(shards-1)]
}

// Acquire admits a new connection from addr, or says which limit refuses
// it. The rate is checked first: a refused handshake costs a token too, so
// a client retrying in a loop stays refused.
func (l *Limiter) Acquire(addr netip.Addr) Result {
	if l == nil {
		return OK
	}
	key := Key(addr)
	s := l.shard(key)
	now := l.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil {
		if len(s.m)+1 >= s.sweepAt || now.Sub(s.lastSweep) > sweepEvery {
			l.sweep(s, now)
		}
		e = &entry{tokens: float64(l.cfg.Burst), tokensAt: now}
		s.m[key] = e
	}
	if l.cfg.Rate > 0 {
		l.refill(e, now)
		if e.tokens < 1 {
			return RateLimited
		}
		e.tokens--
	}
	if l.cfg.MaxConnections > 0 && e.conns >= l.cfg.MaxConnections {
		return TooManyConnections
	}
	e.conns++
	return OK
}

// Release ends a connection that Acquire admitted from addr.
func (l *Limiter) Release(addr netip.Addr) {
	if l == nil {
		return
	}
	key := Key(addr)
	s := l.shard(key)
	s.mu.Lock()
	defer s.mu.Unlock()
	e := s.m[key]
	if e == nil || e.conns == 0 {
		return
	}
	e.conns--
	if e.conns == 0 && (l.cfg.Rate == 0 || l.full(e, l.cfg.Now())) {
		delete(s.m, key)
	}
}

// Len returns the addresses tracked; for tests and metrics.
func (l *Limiter) Len() int {
	if l == nil {
		return 0
	}
	n := 0
	for i := range l.shards {
		s := &l.shards[i]
		s.mu.Lock()
		n += len(s.m)
		s.mu.Unlock()
	}
	return n
}

func (l *Limiter) refill(e *entry, now time.Time) {
	if d := now.Sub(e.tokensAt); d > 0 {
		e.tokens = min(float64(l.cfg.Burst), e.tokens+l.cfg.Rate*d.Seconds())
	}
	e.tokensAt = now
}

func (l *Limiter) full(e *entry, now time.Time) bool {
	l.refill(e, now)
	return e.tokens >= float64(l.cfg.Burst)
}

// sweep drops the entries of s that hold nothing: no connection and a full
// bucket. The caller holds s.mu.
func (l *Limiter) sweep(s *shard, now time.Time) {
	for k, e := range s.m {
		if e.conns == 0 && (l.cfg.Rate == 0 || l.full(e, now)) {
			delete(s.m, k)
		}
	}
	s.lastSweep = now
	s.sweepAt = max(64, 2*len(s.m))
}
