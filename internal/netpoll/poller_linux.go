//go:build linux

package netpoll

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"sync"
	"sync/atomic"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// armEvents is what a registration waits for. EPOLLHUP and EPOLLERR are
	// always reported. One-shot: the socket is disarmed after each event.
	armEvents = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT
	// readEvents and writeEvents are the events reported as readable and
	// writable by Desc.Events.
	readEvents  = unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR
	writeEvents = unix.EPOLLOUT | unix.EPOLLHUP | unix.EPOLLERR
	// removedBit marks a removed Desc in Desc.state.
	removedBit = 1 << 31
	// waitBatch is the number of events taken per epoll_wait.
	waitBatch = 128
	// wakeID is the event id of the eventfd that Close uses to wake the wait
	// goroutine; descriptor ids start at 1.
	wakeID = 0
)

// Poller watches registered connections for readability with one epoll
// instance and one goroutine. Its methods are safe for concurrent use.
type Poller struct {
	logger *slog.Logger
	epfd   int
	wakefd int // eventfd written by Close

	// mu guards closed; ctl operations hold it for reading so epfd is not
	// closed under them.
	mu     sync.RWMutex
	closed bool

	descMu sync.RWMutex
	descs  map[uint64]*Desc // by id, never by fd: a stale event for a reused fd finds nothing
	nextID uint64

	// ctlArgs recycles the arguments of epoll_ctl calls, so that a Desc
	// (one per connection) carries no scratch space and a call does not
	// allocate.
	ctlArgs sync.Pool

	closeOnce sync.Once
	wg        sync.WaitGroup
}

// Desc is one connection's registration, returned by Poller.Add, AddFunc
// or AddFD.
type Desc struct {
	id      uint64
	rc      syscall.RawConn // nil for a bare file descriptor (AddFD)
	onReady func(*Desc)

	// fireMu is held by the wait goroutine while onReady runs, so Remove can
	// wait for a callback in flight; removedBit is checked under it.
	fireMu sync.Mutex
	// state holds removedBit and, while onReady runs, the epoll events it
	// runs for (Events).
	state atomic.Uint32
	fd    int32 // AddFD's file descriptor
}

// removed reports whether Remove was called.
func (d *Desc) removed() bool { return d.state.Load()&removedBit != 0 }

// Events reports, from within onReady, whether the socket is readable and
// whether it is writable (a hang-up or an error is both). Outside onReady
// it reports what the last callback ran for.
func (d *Desc) Events() (readable, writable bool) {
	ev := d.state.Load() &^ removedBit
	return ev&readEvents != 0, ev&writeEvents != 0
}

// ctlArgs passes the arguments of one epoll_ctl through RawConn.Control;
// fn is a.control, bound once per ctlArgs.
type ctlArgs struct {
	epfd, op int
	events   uint32
	id       uint64
	err      error
	fn       func(fd uintptr)
}

// control is a.fn, called by RawConn.Control with the fd held open.
func (a *ctlArgs) control(fd uintptr) {
	ev := unix.EpollEvent{Events: a.events}
	setID(&ev, a.id)
	a.err = unix.EpollCtl(a.epfd, a.op, int(fd), &ev)
}

// New creates the epoll instance and starts the wait goroutine; Close stops
// it. A nil logger discards.
func New(logger *slog.Logger) (*Poller, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("netpoll: epoll_create1: %w", err)
	}
	wakefd, err := unix.Eventfd(0, unix.EFD_NONBLOCK|unix.EFD_CLOEXEC)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN}
	setID(&ev, wakeID)
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wakefd, &ev); err != nil {
		_ = unix.Close(wakefd)
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("netpoll: register eventfd: %w", err)
	}
	p := &Poller{
		logger: logger,
		epfd:   epfd,
		wakefd: wakefd,
		descs:  make(map[uint64]*Desc),
	}
	p.ctlArgs.New = func() any {
		a := &ctlArgs{epfd: epfd}
		a.fn = a.control
		return a
	}
	p.wg.Add(1)
	go p.wait()
	return p, nil
}

// setID and eventID store a 64-bit id in the epoll event's user data (the
// Fd and Pad fields of x/sys/unix's EpollEvent).
func setID(ev *unix.EpollEvent, id uint64) {
	ev.Fd = int32(uint32(id))
	ev.Pad = int32(uint32(id >> 32))
}

func eventID(ev *unix.EpollEvent) uint64 {
	return uint64(uint32(ev.Fd)) | uint64(uint32(ev.Pad))<<32
}

// Add registers conn for one-shot readable notifications
// (EPOLLIN|EPOLLRDHUP|EPOLLONESHOT), armed at once: if data is already
// waiting, onReady runs right away, possibly before Add returns (use AddFunc
// when the callback needs the *Desc). When the socket becomes readable, is
// hung up or fails, onReady runs once on the poller's goroutine; it must not
// block (hand the work to a pool) and must not call Remove on its own
// descriptor (Resume is fine). Call Resume to re-arm after handling.
//
// conn must expose its fd through syscall.Conn (*net.TCPConn, *net.UnixConn).
// For TLS register the underlying connection, and note that a *tls.Conn may
// hold decrypted bytes the socket no longer signals: drain it before Resume.
func (p *Poller) Add(conn net.Conn, onReady func()) (*Desc, error) {
	if onReady == nil {
		return nil, ErrNilCallback
	}
	return p.AddFunc(conn, func(*Desc) { onReady() })
}

// AddFunc is Add with a callback that receives its own registration, so it
// can pass it to Resume without racing with AddFunc's return.
func (p *Poller) AddFunc(conn net.Conn, onReady func(d *Desc)) (*Desc, error) {
	if onReady == nil {
		return nil, ErrNilCallback
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return nil, ErrNotSyscallConn
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, fmt.Errorf("netpoll: add: %w", err)
	}
	d := &Desc{rc: rc, onReady: onReady, fd: -1}
	return p.register(d)
}

// AddFD registers a bare, non-blocking socket file descriptor as AddFunc
// registers a connection, armed for readability. The caller owns fd: it
// must call Remove before closing it, and must not call Resume or Arm
// concurrently with or after Remove (the fd number could then belong to
// another socket).
func (p *Poller) AddFD(fd int, onReady func(d *Desc)) (*Desc, error) {
	if onReady == nil {
		return nil, ErrNilCallback
	}
	if fd < 0 || fd > math.MaxInt32 {
		return nil, fmt.Errorf("netpoll: add: %w", unix.EBADF)
	}
	return p.register(&Desc{fd: int32(fd), onReady: onReady})
}

// register gives d an id, publishes it and arms it for readability.
func (p *Poller) register(d *Desc) (*Desc, error) {
	// Publish before arming so an immediate event finds the descriptor.
	p.descMu.Lock()
	p.nextID++
	d.id = p.nextID
	p.descs[d.id] = d
	p.descMu.Unlock()

	if err := p.ctl(d, unix.EPOLL_CTL_ADD, armEvents); err != nil {
		d.state.Store(removedBit)
		p.forget(d)
		return nil, fmt.Errorf("netpoll: add: %w", err)
	}
	return d, nil
}

// Resume re-arms d after its callback fired. It fails with ErrRemoved after
// Remove, ErrClosed after Close, or an error when the connection is closed.
func (p *Poller) Resume(d *Desc) error { return p.Arm(d, true, false) }

// Arm re-arms d, one-shot, for readability if read, writability if write
// (both: the callback runs once for whichever comes first; see
// Desc.Events). Resume is Arm(d, true, false). Errors are Resume's.
func (p *Poller) Arm(d *Desc, read, write bool) error {
	if d == nil || d.removed() {
		return ErrRemoved
	}
	events := uint32(unix.EPOLLONESHOT)
	if read {
		events |= unix.EPOLLIN | unix.EPOLLRDHUP
	}
	if write {
		events |= unix.EPOLLOUT
	}
	if err := p.ctl(d, unix.EPOLL_CTL_MOD, events); err != nil {
		if d.removed() { // a concurrent Remove won
			return ErrRemoved
		}
		return fmt.Errorf("netpoll: resume: %w", err)
	}
	return nil
}

// ArmHangup re-arms d, one-shot, for the peer's hang-up only (EPOLLRDHUP:
// the peer shut down its side, or the connection broke) and, if write, for
// writability: for a connection that is not to be read now but whose peer
// going away must be noticed. Errors are Arm's.
func (p *Poller) ArmHangup(d *Desc, write bool) error {
	if d == nil || d.removed() {
		return ErrRemoved
	}
	events := uint32(unix.EPOLLONESHOT | unix.EPOLLRDHUP)
	if write {
		events |= unix.EPOLLOUT
	}
	if err := p.ctl(d, unix.EPOLL_CTL_MOD, events); err != nil {
		if d.removed() {
			return ErrRemoved
		}
		return fmt.Errorf("netpoll: arm hang-up: %w", err)
	}
	return nil
}

// HungUp reports, from within onReady, whether the peer hung up or the
// connection failed (EPOLLRDHUP, EPOLLHUP, EPOLLERR).
func (d *Desc) HungUp() bool {
	return d.state.Load()&(unix.EPOLLRDHUP|unix.EPOLLHUP|unix.EPOLLERR) != 0
}

// Remove deregisters d. Call it before closing the connection (after the
// close, the fd number may already belong to another connection; Remove then
// only forgets d, the kernel having dropped the registration with the
// socket). When Remove returns, d's callback is not running and will not
// run again. It is idempotent, and a no-op after Close.
func (p *Poller) Remove(d *Desc) error {
	if d == nil || d.state.Or(removedBit)&removedBit != 0 {
		return nil
	}
	// Wait for a callback in flight; later events see removed.
	d.fireMu.Lock()
	//lint:ignore SA2001 an empty critical section is the barrier here
	d.fireMu.Unlock()
	p.forget(d)

	err := p.ctl(d, unix.EPOLL_CTL_DEL, 0)
	switch {
	case err == nil, errors.Is(err, ErrClosed), errors.Is(err, errConnClosed):
		return nil
	default:
		return fmt.Errorf("netpoll: remove: %w", err)
	}
}

// Close stops the wait goroutine, waits for it and releases the epoll
// instance. Callbacks already running finish first, so Close must not be
// called from a callback. It is idempotent and always returns nil;
// registrations die with the poller.
func (p *Poller) Close() error {
	p.closeOnce.Do(func() {
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()

		var one [8]byte
		binary.NativeEndian.PutUint64(one[:], 1) // eventfd takes a host-endian uint64
		if _, err := unix.Write(p.wakefd, one[:]); err != nil {
			p.logger.Error("netpoll: wake the wait goroutine", "err", err)
		}
		p.wg.Wait()
		_ = unix.Close(p.epfd)
		_ = unix.Close(p.wakefd)
	})
	return nil
}

// errConnClosed wraps the error of RawConn.Control on a closed connection.
var errConnClosed = errors.New("netpoll: connection closed")

// ctl runs epoll_ctl(op, events) on d's fd, holding the fd open
// (RawConn.Control) so it cannot be closed and reused meanwhile; a bare fd
// (AddFD) is the caller's to keep open.
func (p *Poller) ctl(d *Desc, op int, events uint32) error {
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return ErrClosed
	}
	if d.rc == nil {
		ev := unix.EpollEvent{Events: events}
		setID(&ev, d.id)
		return unix.EpollCtl(p.epfd, op, int(d.fd), &ev)
	}
	a := p.ctlArgs.Get().(*ctlArgs)
	a.op, a.events, a.id, a.err = op, events, d.id, nil
	err := d.rc.Control(a.fn)
	if err == nil {
		err = a.err
	} else {
		err = fmt.Errorf("%w: %w", errConnClosed, err)
	}
	a.err = nil
	p.ctlArgs.Put(a)
	return err
}

func (p *Poller) forget(d *Desc) {
	p.descMu.Lock()
	delete(p.descs, d.id)
	p.descMu.Unlock()
}

// wait is the poller's goroutine: it takes ready events and runs callbacks
// until Close wakes it.
func (p *Poller) wait() {
	defer p.wg.Done()
	events := make([]unix.EpollEvent, waitBatch)
	for {
		n, err := unix.EpollWait(p.epfd, events, -1)
		if err != nil {
			if errors.Is(err, unix.EINTR) {
				continue
			}
			p.logger.Error("netpoll: epoll_wait failed, poller stopped", "err", err)
			return
		}
		for i := range events[:n] {
			id := eventID(&events[i])
			if id == wakeID {
				return
			}
			p.descMu.RLock()
			d := p.descs[id]
			p.descMu.RUnlock()
			if d != nil {
				d.fire(events[i].Events)
			}
		}
	}
}

func (d *Desc) fire(events uint32) {
	d.fireMu.Lock()
	defer d.fireMu.Unlock()
	// Only fire and Remove write state, and fire holds fireMu: a Remove
	// racing with this store is waiting for fireMu and sets the bit again.
	for {
		old := d.state.Load()
		if old&removedBit != 0 {
			return
		}
		if d.state.CompareAndSwap(old, events&^removedBit) {
			break
		}
	}
	d.onReady(d)
}
