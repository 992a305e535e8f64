package discovery_test

import (
	"context"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	"github.com/gatewayworker/gatewayworker/register"
)

// cutProxy forwards TCP to a target until cut; then it closes the
// connections it carries and holds new ones open without an answer, as a
// partition would.
type cutProxy struct {
	lis    net.Listener
	target string
	cut    atomic.Bool

	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newCutProxy(t *testing.T, target string) *cutProxy {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{lis: lis, target: target}
	p.wg.Go(p.accept)
	t.Cleanup(func() {
		lis.Close()
		p.closeAll()
		p.wg.Wait()
	})
	return p
}

func (p *cutProxy) addr() string { return p.lis.Addr().String() }

func (p *cutProxy) accept() {
	for {
		c, err := p.lis.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		p.conns = append(p.conns, c)
		p.mu.Unlock()
		if p.cut.Load() {
			continue // held open, never answered
		}
		up, err := net.Dial("tcp", p.target)
		if err != nil {
			c.Close()
			continue
		}
		p.mu.Lock()
		p.conns = append(p.conns, up)
		p.mu.Unlock()
		p.wg.Go(func() { _, _ = io.Copy(up, c); up.Close() })
		p.wg.Go(func() { _, _ = io.Copy(c, up); c.Close() })
	}
}

func (p *cutProxy) closeAll() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

// partition cuts the proxy: its connections break and new ones hang.
func (p *cutProxy) partition() {
	p.cut.Store(true)
	p.closeAll()
}

// heal lets new connections through again.
func (p *cutProxy) heal() { p.cut.Store(false) }

// leaseCluster is n registers and holders, each holder reaching each
// register through a proxy of its own.
type leaseCluster struct {
	regs    []*testRegister
	holders []*discovery.Lease
	proxies [][]*cutProxy // [holder][register]
	stops   []context.CancelFunc
	done    []chan struct{}
}

func startLeaseCluster(t *testing.T, registers, holders int, ttl time.Duration) *leaseCluster {
	t.Helper()
	c := &leaseCluster{}
	for range registers {
		c.regs = append(c.regs, startRegister(t, register.Config{ClusterSize: registers, MaxLeaderTTL: ttl}))
	}
	for h := range holders {
		var addrs []string
		var ps []*cutProxy
		for _, r := range c.regs {
			p := newCutProxy(t, r.addr)
			ps = append(ps, p)
			addrs = append(addrs, p.addr())
		}
		l, err := discovery.NewLease(discovery.LeaseConfig{Registers: addrs, Holder: string(rune('a' + h)), TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() {
			defer close(done)
			if err := l.Run(ctx); err != nil {
				t.Errorf("Run: %v", err)
			}
		}()
		c.holders = append(c.holders, l)
		c.proxies = append(c.proxies, ps)
		c.stops = append(c.stops, cancel)
		c.done = append(c.done, done)
		t.Cleanup(func() { cancel(); <-done })
	}
	return c
}

// leaders returns the indexes of the holders leading now.
func (c *leaseCluster) leaders() []int {
	var out []int
	for i, l := range c.holders {
		if l.Leading() {
			out = append(out, i)
		}
	}
	return out
}

// watchOverlap samples the holders every millisecond until stopped and
// reports whether two ever led at once.
func (c *leaseCluster) watchOverlap() (stop func() (overlaps int)) {
	var n atomic.Int64
	quit := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			select {
			case <-quit:
				return
			case <-time.After(time.Millisecond):
			}
			if len(c.leaders()) > 1 {
				n.Add(1)
			}
		}
	})
	return func() int { close(quit); wg.Wait(); return int(n.Load()) }
}

func (c *leaseCluster) waitLeader(t *testing.T, within time.Duration, not int) (int, time.Duration) {
	t.Helper()
	start := time.Now()
	var got int
	waitFor(t, within, "one leader", func() bool {
		ls := c.leaders()
		if len(ls) == 1 && ls[0] != not {
			got = ls[0]
			return true
		}
		return false
	})
	return got, time.Since(start)
}

func TestLeaseConfig(t *testing.T) {
	if _, err := discovery.NewLease(discovery.LeaseConfig{Holder: "a"}); !errors.Is(err, discovery.ErrNoRegisters) {
		t.Fatalf("no registers: %v", err)
	}
	if _, err := discovery.NewLease(discovery.LeaseConfig{Registers: []string{"x"}}); !errors.Is(err, discovery.ErrInvalidConfig) {
		t.Fatalf("no holder: %v", err)
	}
	if _, err := discovery.NewLease(discovery.LeaseConfig{Registers: []string{"x"}, Holder: "a", TTL: time.Millisecond}); !errors.Is(err, discovery.ErrInvalidConfig) {
		t.Fatalf("short TTL: %v", err)
	}
}

// Three holders, three registers: one leads; its partition from every
// register ends its term before another's starts, and the tokens grow.
func TestLeaseMajorityAndPartition(t *testing.T) {
	const ttl = time.Second
	c := startLeaseCluster(t, 3, 3, ttl)
	stopWatch := c.watchOverlap()
	first, _ := c.waitLeader(t, 10*time.Second, -1)
	term1, ok := c.holders[first].Held()
	if !ok {
		t.Fatal("leader lost its term at once")
	}
	time.Sleep(2 * ttl) // renewals keep the same leader and token
	if ls := c.leaders(); len(ls) != 1 || ls[0] != first {
		t.Fatalf("leaders %v, want %d", ls, first)
	}
	if term, _ := c.holders[first].Held(); term.Token != term1.Token {
		t.Fatalf("token moved from %d to %d while renewing", term1.Token, term.Token)
	}

	cut := time.Now()
	for _, p := range c.proxies[first] {
		p.partition()
	}
	select {
	case <-term1.Done:
	case <-time.After(2 * ttl):
		t.Fatal("the partitioned leader's term did not end")
	}
	if d := time.Since(cut); d > ttl {
		t.Fatalf("the partitioned leader led %v after the cut, longer than the TTL %v", d, ttl)
	}
	second, took := c.waitLeader(t, 5*ttl, first)
	t.Logf("after the partition, holder %d leads %v after the cut (waited %v)", second, time.Since(cut).Round(time.Millisecond), took.Round(time.Millisecond))
	term2, _ := c.holders[second].Held()
	if term2.Token <= term1.Token {
		t.Fatalf("token %d after %d: not increasing", term2.Token, term1.Token)
	}

	// Healed, the old leader does not take over while the new one renews.
	for _, p := range c.proxies[first] {
		p.heal()
	}
	time.Sleep(2 * ttl)
	if ls := c.leaders(); len(ls) != 1 || ls[0] != second {
		t.Fatalf("after healing, leaders %v, want %d", ls, second)
	}
	if n := stopWatch(); n != 0 {
		t.Fatalf("two holders led at once in %d samples", n)
	}
}

// A holder that reaches only a minority of the registers never leads,
// while the one reaching the majority does.
func TestLeaseMinorityNeverLeads(t *testing.T) {
	const ttl = time.Second
	c := startLeaseCluster(t, 3, 2, ttl)
	// Holder 0 reaches register 0 only; holder 1 reaches registers 1 and 2.
	c.proxies[0][1].partition()
	c.proxies[0][2].partition()
	c.proxies[1][0].partition()
	stopWatch := c.watchOverlap()
	got, _ := c.waitLeader(t, 10*time.Second, -1)
	if got != 1 {
		t.Fatalf("holder %d leads, want the majority side (1)", got)
	}
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		if c.holders[0].Leading() {
			t.Fatal("the minority holder leads")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if n := stopWatch(); n != 0 {
		t.Fatalf("two holders led at once in %d samples", n)
	}
}

// A leader that stops releases its grants: another leads at once, not
// after the TTL.
func TestLeaseReleaseOnStop(t *testing.T) {
	const ttl = 3 * time.Second
	c := startLeaseCluster(t, 1, 2, ttl)
	first, _ := c.waitLeader(t, 10*time.Second, -1)
	stopped := time.Now()
	c.stops[first]()
	<-c.done[first]
	_, _ = c.waitLeader(t, 10*time.Second, first)
	if d := time.Since(stopped); d > ttl/2 {
		t.Fatalf("handover after a clean stop took %v, want well under the TTL %v", d, ttl)
	}
}

// A register that restarts forgets its grants: it grants nothing for its
// MaxLeaderTTL, so the holder that led before cannot be joined by another
// one while its term may still run.
func TestLeaseRegisterRestartGivesNoSecondLeader(t *testing.T) {
	const ttl = time.Second
	addr := freeAddr(t)
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	r := serveOn(t, lis, register.Config{MaxLeaderTTL: ttl})
	c := &leaseCluster{regs: []*testRegister{r}}
	for _, h := range []string{"a", "b"} {
		l, err := discovery.NewLease(discovery.LeaseConfig{Registers: []string{addr}, Holder: h, TTL: ttl})
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan struct{})
		go func() { defer close(done); _ = l.Run(ctx) }()
		t.Cleanup(func() { cancel(); <-done })
		c.holders = append(c.holders, l)
	}
	first, _ := c.waitLeader(t, 10*time.Second, -1)
	stopWatch := c.watchOverlap()
	r.stop() // the grants are gone with the process
	lis, err = net.Listen("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	restarted := time.Now()
	serveOn(t, lis, register.Config{MaxLeaderTTL: ttl})
	waitFor(t, 5*time.Second, "the old term ends (no renewal granted)", func() bool { return len(c.leaders()) == 0 })
	waitFor(t, 10*time.Second, "a leader after the restart", func() bool { return len(c.leaders()) == 1 })
	if d := time.Since(restarted); d < ttl {
		t.Fatalf("a leader %v after the register restarted, within its MaxLeaderTTL %v", d, ttl)
	}
	if n := stopWatch(); n != 0 {
		t.Fatalf("two holders led at once in %d samples (first leader %d)", n, first)
	}
}
