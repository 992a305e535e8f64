//go:build linux

package netpoll

import (
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// quiet is how long TestRemoveWaitsForRunningCallback waits to conclude
// that Remove is blocked. It can only make the test pass wrongly on a very
// slow system, never fail.
const quiet = 100 * time.Millisecond

func newPoller(t testing.TB) *Poller {
	t.Helper()
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close() })
	return p
}

// pairs returns n connected loopback TCP pairs (server side, client side).
func pairs(t testing.TB, n int) (servers, clients []net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for range n {
		c, err := net.Dial("tcp", ln.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		s, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		servers, clients = append(servers, s), append(clients, c)
	}
	t.Cleanup(func() {
		for i := range servers {
			_ = servers[i].Close()
			_ = clients[i].Close()
		}
	})
	return servers, clients
}

// expectFire waits for index i on ch.
func expectFire(t *testing.T, ch <-chan int, want int) {
	t.Helper()
	select {
	case got := <-ch:
		if got != want {
			t.Fatalf(
				"conn %d fired, want %d",
				got, want,
			)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf(
			"conn %d did not fire within 5s",
			want,
		)
	}
}

// expectNoFire checks that nothing fired: it waits for two barrier
// registrations to fire in turn, so every event the poller took before them
// has been handled, then looks at ch.
func expectNoFire(t *testing.T, p *Poller, ch <-chan int) {
	t.Helper()
	barrier(t, p)
	barrier(t, p)
	select {
	case got := <-ch:
		t.Fatalf(
			"conn %d fired unexpectedly",
			got,
		)
	default:
	}
}

// barrier registers a fresh conn, makes it readable and waits for its
// callback: the poller handles events in order, batch by batch.
func barrier(t *testing.T, p *Poller) {
	t.Helper()
	servers, clients := pairs(t, 1)
	done := make(chan struct{})
	d, err := p.Add(servers[0], func() { close(done) })
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].Write([]byte("b")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("barrier did not fire within 5s")
	}
	if err := p.Remove(d); err != nil {
		t.Fatal(err)
	}
}

// addAll registers every server conn; its callback sends the index on the
// returned channel.
func addAll(t *testing.T, p *Poller, servers []net.Conn) ([]*Desc, chan int) {
	t.Helper()
	fired := make(chan int, 4*len(servers)+16)
	descs := make([]*Desc, len(servers))
	for i, s := range servers {
		d, err := p.Add(s, func() { fired <- i })
		if err != nil {
			t.Fatal(err)
		}
		descs[i] = d
	}
	return descs, fired
}

func TestOnlyWrittenConnsFireOnce(t *testing.T) {
	p := newPoller(t)
	servers, clients := pairs(t, 64)
	_, fired := addAll(t, p, servers)
	expectNoFire(t, p, fired)

	want := map[int]bool{}
	for i := 0; i < len(clients); i += 3 {
		if _, err := clients[i].Write([]byte("x")); err != nil {
			t.Fatal(err)
		}
		want[i] = true
	}
	got := map[int]bool{}
	deadline := time.After(5 * time.Second)
	for len(got) < len(want) {
		select {
		case i := <-fired:
			if !want[i] || got[i] {
				t.Fatalf(
					"conn %d fired (written: %v, already fired: %v)",
					i, want[i], got[i],
				)
			}
			got[i] = true
		case <-deadline:
			t.Fatalf(
				"%d of %d written conns fired",
				len(got), len(want),
			)
		}
	}
	// One-shot: more data does not fire again before Resume.
	for i := range want {
		if _, err := clients[i].Write([]byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	expectNoFire(t, p, fired)
}

func TestResumeRearms(t *testing.T) {
	p := newPoller(t)
	servers, clients := pairs(t, 1)
	descs, fired := addAll(t, p, servers)

	if _, err := clients[0].Write([]byte("abc")); err != nil {
		t.Fatal(err)
	}
	expectFire(t, fired, 0)
	// Data left unread: re-arming fires again at once (level-triggered).
	if err := p.Resume(descs[0]); err != nil {
		t.Fatal(err)
	}
	expectFire(t, fired, 0)

	// Drain through the Go runtime, as the gateway does, then re-arm: quiet.
	buf := make([]byte, 16)
	if n, err := servers[0].Read(buf); err != nil || n != 3 {
		t.Fatalf(
			"read %d bytes, %v",
			n, err,
		)
	}
	if err := p.Resume(descs[0]); err != nil {
		t.Fatal(err)
	}
	expectNoFire(t, p, fired)
	if _, err := clients[0].Write([]byte("d")); err != nil {
		t.Fatal(err)
	}
	expectFire(t, fired, 0)
}

func TestAddFuncPassesItsDesc(t *testing.T) {
	p := newPoller(t)
	servers, clients := pairs(t, 1)
	// Data already waiting: the callback may run before AddFunc returns.
	if _, err := clients[0].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	got := make(chan *Desc, 2)
	d, err := p.AddFunc(servers[0], func(d *Desc) { got <- d })
	if err != nil {
		t.Fatal(err)
	}
	for range 2 {
		select {
		case gd := <-got:
			if gd != d {
				t.Fatal("callback got another Desc")
			}
			if err := p.Resume(gd); err != nil { // unread data: fires again
				t.Fatal(err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("no callback within 5s")
		}
	}
	if err := p.Remove(d); err != nil {
		t.Fatal(err)
	}
}

func TestRemoveStopsNotifications(t *testing.T) {
	p := newPoller(t)
	servers, clients := pairs(t, 2)
	descs, fired := addAll(t, p, servers)

	if err := p.Remove(descs[0]); err != nil {
		t.Fatal(err)
	}
	if err := p.Remove(descs[0]); err != nil {
		t.Fatalf(
			"second Remove: %v",
			err,
		)
	}
	if err := p.Resume(descs[0]); !errors.Is(err, ErrRemoved) {
		t.Fatalf(
			"Resume after Remove: %v, want ErrRemoved",
			err,
		)
	}
	if _, err := clients[0].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectNoFire(t, p, fired)
	// The other registration is untouched.
	if _, err := clients[1].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectFire(t, fired, 1)
}

func TestHangUpFires(t *testing.T) {
	p := newPoller(t)
	servers, clients := pairs(t, 2)
	_, fired := addAll(t, p, servers)

	if err := clients[0].Close(); err != nil {
		t.Fatal(err)
	}
	expectFire(t, fired, 0)
	if _, err := servers[0].Read(make([]byte, 1)); err != io.EOF {
		t.Fatalf(
			"read after hang-up: %v, want io.EOF",
			err,
		)
	}
	// A half-close (FIN only) fires too.
	if err := clients[1].(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	expectFire(t, fired, 1)
}

// Remove after the conn was closed must not touch a new conn that reuses
// the fd number.
func TestRemoveAfterCloseSparesReusedFD(t *testing.T) {
	p := newPoller(t)
	servers, _ := pairs(t, 1)
	old, err := p.Add(servers[0], func() {})
	if err != nil {
		t.Fatal(err)
	}
	_ = servers[0].Close()

	servers2, clients2 := pairs(t, 1) // likely gets the same fd number
	_, fired := addAll(t, p, servers2)
	if err := p.Remove(old); err != nil {
		t.Fatalf(
			"Remove after close: %v",
			err,
		)
	}
	if _, err := clients2[0].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	expectFire(t, fired, 0)
}

func TestRemoveWaitsForRunningCallback(t *testing.T) {
	p := newPoller(t)
	servers, clients := pairs(t, 1)
	entered, release := make(chan struct{}), make(chan struct{})
	var releaseOnce sync.Once
	unblock := func() { releaseOnce.Do(func() { close(release) }) }
	defer unblock() // on failure too, or Close would wait for the callback forever
	var calls atomic.Int32
	d, err := p.Add(servers[0], func() {
		calls.Add(1)
		close(entered)
		<-release
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := clients[0].Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	<-entered
	removed := make(chan error, 1)
	go func() { removed <- p.Remove(d) }()
	select {
	case <-removed:
		t.Fatal("Remove returned while the callback was running")
	case <-time.After(quiet):
	}
	unblock()
	if err := <-removed; err != nil {
		t.Fatal(err)
	}
	if calls.Load() != 1 {
		t.Fatalf(
			"%d calls, want 1",
			calls.Load(),
		)
	}
}

// No callback starts after Remove returns, even with events in flight.
func TestNoCallbackAfterRemove(t *testing.T) {
	p := newPoller(t)
	servers, clients := pairs(t, 50)
	var late atomic.Int32
	removedFlags := make([]atomic.Bool, len(servers))
	descs := make([]*Desc, len(servers))
	for i, s := range servers {
		d, err := p.Add(s, func() {
			if removedFlags[i].Load() {
				late.Add(1)
			}
		})
		if err != nil {
			t.Fatal(err)
		}
		descs[i] = d
	}
	var wg sync.WaitGroup
	for i := range servers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, _ = clients[i].Write([]byte("x"))
			_ = p.Remove(descs[i])
			removedFlags[i].Store(true)
		}()
	}
	wg.Wait()
	barrier(t, p) // let any stale event be delivered
	barrier(t, p)
	if n := late.Load(); n != 0 {
		t.Fatalf(
			"%d callbacks ran after Remove returned",
			n,
		)
	}
}

func TestCloseIdempotentAndAfterClose(t *testing.T) {
	p, err := New(nil)
	if err != nil {
		t.Fatal(err)
	}
	servers, _ := pairs(t, 2)
	d, err := p.Add(servers[0], func() {})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := p.Close(); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	if _, err := p.Add(servers[1], func() {}); !errors.Is(err, ErrClosed) {
		t.Fatalf(
			"Add after Close: %v, want ErrClosed",
			err,
		)
	}
	if err := p.Resume(d); !errors.Is(err, ErrClosed) {
		t.Fatalf(
			"Resume after Close: %v, want ErrClosed",
			err,
		)
	}
	if err := p.Remove(d); err != nil {
		t.Fatalf(
			"Remove after Close: %v",
			err,
		)
	}
	// goleak (TestMain) checks the wait goroutine is gone.
}

func TestAddRefusesMisuse(t *testing.T) {
	p := newPoller(t)
	servers, _ := pairs(t, 1)
	if _, err := p.Add(servers[0], nil); !errors.Is(err, ErrNilCallback) {
		t.Fatalf(
			"nil callback: %v",
			err,
		)
	}
	if _, err := p.AddFunc(servers[0], nil); !errors.Is(err, ErrNilCallback) {
		t.Fatalf(
			"nil AddFunc callback: %v",
			err,
		)
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if _, err := p.Add(a, func() {}); !errors.Is(err, ErrNotSyscallConn) {
		t.Fatalf(
			"net.Pipe: %v, want ErrNotSyscallConn",
			err,
		)
	}
	closed, _ := pairs(t, 1)
	_ = closed[0].Close()
	if _, err := p.Add(closed[0], func() {}); err == nil {
		t.Fatal("Add of a closed conn succeeded")
	}
	if err := p.Resume(nil); !errors.Is(err, ErrRemoved) {
		t.Fatalf(
			"Resume(nil): %v",
			err,
		)
	}
	if err := p.Remove(nil); err != nil {
		t.Fatalf(
			"Remove(nil): %v",
			err,
		)
	}
}

func BenchmarkResume(b *testing.B) {
	p := newPoller(b)
	servers, _ := pairs(b, 1)
	d, err := p.Add(servers[0], func() {})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := p.Resume(d); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAddRemove(b *testing.B) {
	p := newPoller(b)
	servers, _ := pairs(b, 1)
	b.ReportAllocs()
	for b.Loop() {
		d, err := p.Add(servers[0], func() {})
		if err != nil {
			b.Fatal(err)
		}
		if err := p.Remove(d); err != nil {
			b.Fatal(err)
		}
	}
}

// A Desc is held by every idle connection: it carries no epoll_ctl scratch
// (that lives in a pool), and Resume does not allocate.
func TestDescIsSmall(t *testing.T) {
	if n := unsafe.Sizeof(Desc{}); n > 48 {
		t.Fatalf("Desc is %d bytes, want <= 48", n)
	}
	p := newPoller(t)
	servers, _ := pairs(t, 1)
	d, err := p.Add(servers[0], func() {})
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Resume(d); err != nil { // fill the pool
		t.Fatal(err)
	}
	if allocs := testing.AllocsPerRun(100, func() { _ = p.Resume(d) }); allocs != 0 {
		t.Fatalf("%v allocations per Resume", allocs)
	}
}

// A bare descriptor (AddFD) fires for input, and Arm with write fires for a
// socket with room to write, reporting which through Desc.Events.
func TestAddFDArmEvents(t *testing.T) {
	p := newPoller(t)
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unix.Close(fds[1])
	type ev struct{ r, w bool }
	fired := make(chan ev, 4)
	d, err := p.AddFD(fds[0], func(d *Desc) {
		r, w := d.Events()
		fired <- ev{r, w}
	})
	if err != nil {
		t.Fatal(err)
	}
	next := func() ev {
		t.Helper()
		select {
		case e := <-fired:
			return e
		case <-time.After(5 * time.Second):
			t.Fatal("no callback")
			return ev{}
		}
	}
	// Nothing to read: arming for writing fires at once, writable only.
	if err := p.Arm(d, true, true); err != nil {
		t.Fatal(err)
	}
	if e := next(); e.r || !e.w {
		t.Fatalf("events %+v, want writable only", e)
	}
	if _, err := unix.Write(fds[1], []byte("x")); err != nil {
		t.Fatal(err)
	}
	if err := p.Resume(d); err != nil {
		t.Fatal(err)
	}
	if e := next(); !e.r || e.w {
		t.Fatalf("events %+v, want readable only", e)
	}
	if err := p.Remove(d); err != nil {
		t.Fatal(err)
	}
	_ = unix.Close(fds[0])
	if err := p.Arm(d, true, false); !errors.Is(err, ErrRemoved) {
		t.Fatalf("Arm after Remove: %v, want ErrRemoved", err)
	}
	if _, err := p.AddFD(-1, func(*Desc) {}); err == nil {
		t.Fatal("AddFD(-1) succeeded")
	}
	if _, err := p.AddFD(fds[1], nil); !errors.Is(err, ErrNilCallback) {
		t.Fatalf("AddFD(nil callback): %v", err)
	}
}
