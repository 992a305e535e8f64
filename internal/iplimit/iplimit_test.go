package iplimit

import (
	"net/netip"
	"sync"
	"testing"
	"time"
)

type clock struct{ t time.Time }

func (c *clock) now() time.Time      { return c.t }
func (c *clock) add(d time.Duration) { c.t = c.t.Add(d) }

func TestNilLimiterAdmitsAll(t *testing.T) {
	l, err := New(Config{})
	if err != nil || l != nil {
		t.Fatalf("New(zero) = %v, %v", l, err)
	}
	if l.Acquire(netip.MustParseAddr("1.2.3.4")) != OK {
		t.Fatal("nil limiter refused")
	}
	l.Release(netip.MustParseAddr("1.2.3.4"))
	if _, err := New(Config{MaxConnections: -1}); err == nil {
		t.Fatal("negative limit accepted")
	}
}

func TestMaxConnections(t *testing.T) {
	l, _ := New(Config{MaxConnections: 2})
	a, b := netip.MustParseAddr("192.0.2.1"), netip.MustParseAddr("192.0.2.2")
	for i, want := range []Result{OK, OK, TooManyConnections, TooManyConnections} {
		if got := l.Acquire(a); got != want {
			t.Fatalf("acquire %d: %v, want %v", i, got, want)
		}
	}
	if l.Acquire(b) != OK {
		t.Fatal("another address refused")
	}
	l.Release(a)
	if l.Acquire(a) != OK {
		t.Fatal("not admitted after a release")
	}
	// The mapped form of an IPv4 address is the same client.
	if l.Acquire(netip.MustParseAddr("::ffff:192.0.2.1")) != TooManyConnections {
		t.Fatal("IPv4-mapped address counted apart")
	}
	// An IPv6 /64 is one client.
	x, y := netip.MustParseAddr("2001:db8:1:2::1"), netip.MustParseAddr("2001:db8:1:2:ffff::9")
	if l.Acquire(x) != OK || l.Acquire(y) != OK || l.Acquire(x) != TooManyConnections {
		t.Fatal("a /64 not counted as one client")
	}
	if l.Acquire(netip.MustParseAddr("2001:db8:1:3::1")) != OK {
		t.Fatal("another /64 refused")
	}
	// Releasing everything leaves no entry.
	l.Release(a)
	l.Release(a)
	l.Release(b)
	l.Release(x)
	l.Release(y)
	l.Release(netip.MustParseAddr("2001:db8:1:3::1"))
	l.Release(netip.MustParseAddr("198.51.100.1")) // never acquired: ignored
	if n := l.Len(); n != 0 {
		t.Fatalf("%d entries left", n)
	}
}

func TestRate(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l, _ := New(Config{Rate: 2, Burst: 3, Now: c.now})
	a := netip.MustParseAddr("192.0.2.1")
	for i, want := range []Result{OK, OK, OK, RateLimited} {
		if got := l.Acquire(a); got != want {
			t.Fatalf("burst %d: %v", i, got)
		}
	}
	if l.Acquire(netip.MustParseAddr("192.0.2.2")) != OK {
		t.Fatal("rate shared between addresses")
	}
	c.add(500 * time.Millisecond) // one token
	if l.Acquire(a) != OK || l.Acquire(a) != RateLimited {
		t.Fatal("refill of one token")
	}
	c.add(time.Hour) // the bucket caps at Burst
	for i, want := range []Result{OK, OK, OK, RateLimited} {
		if got := l.Acquire(a); got != want {
			t.Fatalf("after an hour %d: %v", i, got)
		}
	}
}

// Entries of addresses that hold nothing are swept, so a scan from many
// addresses does not grow the limiter without bound.
func TestSweep(t *testing.T) {
	c := &clock{t: time.Unix(1000, 0)}
	l, _ := New(Config{Rate: 10, Burst: 1, Now: c.now})
	for i := range 100000 {
		addr := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Acquire(addr)
		l.Release(addr)
		c.add(time.Millisecond)
	}
	if n := l.Len(); n > 100*shards {
		t.Fatalf("%d entries after 100000 short-lived addresses", n)
	}
}

func TestConcurrent(t *testing.T) {
	l, _ := New(Config{MaxConnections: 5, Rate: 1e9})
	a := netip.MustParseAddr("192.0.2.1")
	var wg sync.WaitGroup
	var mu sync.Mutex
	admitted := 0
	for range 50 {
		wg.Go(func() {
			if l.Acquire(a) == OK {
				mu.Lock()
				admitted++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if admitted != 5 {
		t.Fatalf("%d admitted, want 5", admitted)
	}
}

func BenchmarkAcquireRelease(b *testing.B) {
	l, _ := New(Config{MaxConnections: 100, Rate: 1e9})
	a := netip.MustParseAddr("192.0.2.1")
	b.ReportAllocs()
	for b.Loop() {
		l.Acquire(a)
		l.Release(a)
	}
}
