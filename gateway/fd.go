package gateway

import (
	"errors"
	"io"
	"net"
	"os"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/gwqueue"
	"github.com/gatewayworker/gatewayworker/internal/netpoll"
)

// Bare sockets.
//
// After the upgrade, a plain (non-TLS) client keeps only its socket's file
// descriptor (takeFD): no net.Conn, no runtime poll descriptor, no timers.
// The gateway's poller (netpoll, one-shot) tells when it is readable or, for
// a flusher waiting on a full socket, writable; reads and writes are
// non-blocking syscalls, and the waits of a slow reader (a frame partly
// arrived) or a flusher (a full socket) are a channel signalled by the
// poller's callback with a timer for the deadline, so a stalled client holds
// a parked goroutine, never a thread.
//
// The descriptor is closed once, by finish, after the poller registration
// is removed. Every syscall on it holds a reference (acquireFD/releaseFD):
// a close that finds syscalls in flight is completed by the last of them, so
// the fd number is never reused under a read or a write.
//
// Arming: the registration is one-shot, and a callback consumes it. Whoever
// takes the event re-arms it, for reading unless the reader has stopped
// (readOff) and for writing while a flusher waits (wwait): the read task at
// the end of its run, a woken waiter when it waits again, the callback
// itself when it dispatched no read.

// fdClosing marks conn.fdRefs once finish closed the descriptor.
const fdClosing = 1 << 30

var (
	// errAgain is sysRead's EAGAIN.
	errAgain = errors.New("gateway: would block")
	// errWouldBlock is a polled read that found nothing to read (a spurious
	// wake-up): read the client again when the poller says so.
	errWouldBlock = errors.New("gateway: nothing to read")
)

// acquireFD takes a reference on c.fd for one syscall; false once closed.
func (c *conn) acquireFD() bool {
	for {
		v := c.fdRefs.Load()
		if v&fdClosing != 0 {
			return false
		}
		if c.fdRefs.CompareAndSwap(v, v+1) {
			return true
		}
	}
}

// releaseFD drops acquireFD's reference, closing the descriptor if finish
// closed it meanwhile.
func (c *conn) releaseFD() {
	if c.fdRefs.Add(-1) == fdClosing {
		sysClose(c.fd)
	}
}

// closeFD closes the descriptor now, or when the syscalls in flight end.
func (c *conn) closeFD() {
	if v := c.fdRefs.Or(fdClosing); v == 0 {
		sysClose(c.fd)
	}
}

// onReady is the poller's callback for a bare socket (on the poller's
// goroutine: it must not block). It wakes the waiters the event is for and
// schedules a read.
func (c *conn) onReady(d *netpoll.Desc) {
	readable, writable := d.Events()
	read := false
	c.mu.Lock()
	if c.state == stateClosed || c.desc != d {
		c.mu.Unlock()
		return
	}
	if writable && c.wwait {
		c.wakeLocked(true)
	}
	if readable {
		switch {
		case c.rwait:
			c.wakeLocked(false)
		case c.pausedLocked() && c.readOff:
			// Armed for the hang-up only: the client is gone. Its reader
			// reads what is left, past the pause, up to the end.
			c.peerGone, c.readOff = true, false
			read = true
		default:
			read = true
		}
	} else if !c.readOff || c.wwait {
		// Nobody reads because of this event: keep the rest armed.
		_ = c.armLocked()
	}
	c.mu.Unlock()
	if read {
		c.g.pool.ScheduleTask((*readTask)(c))
	}
}

// armLocked arms the poller for what c waits for. The caller holds c.mu,
// and c is not closed (finish removes the registration after closing c,
// under c.mu: an arm never reaches a closed, reused fd).
func (c *conn) armLocked() error {
	if c.desc == nil || c.state == stateClosed {
		return net.ErrClosed
	}
	if c.readOff && c.pausedLocked() && !c.peerGone && !c.rwait && c.state == stateOpen {
		// Not read while paused, but its hang-up is noticed.
		return c.g.poller.ArmHangup(c.desc, c.wwait)
	}
	// A draining close (closedrain.go) waits for input after the reader
	// stopped.
	return c.g.poller.Arm(c.desc, !c.readOff || c.rwait, c.wwait)
}

// fdWake holds the channels (capacity one) on which a slow reader (r) and a
// flusher (w) of a bare socket wait for the poller. Only clients that ever
// wait have one.
type fdWake struct {
	r, w chan struct{}
}

// wakeLocked wakes the flusher (write) or the slow reader; the caller holds
// c.mu and the waiter's flag is set.
func (c *conn) wakeLocked(write bool) {
	ch := c.wake.r
	if write {
		ch, c.wwait = c.wake.w, false
	} else {
		c.rwait = false
	}
	select {
	case ch <- struct{}{}:
	default:
	}
}

// waitFD waits until the poller reports c readable (or writable if write),
// until deadline (unix nanos; os.ErrDeadlineExceeded) or until c is
// finished. A wake-up may be spurious: the caller retries its syscall.
func (c *conn) waitFD(write bool, deadline int64) error {
	wait := time.Duration(deadline - time.Now().UnixNano())
	if wait <= 0 {
		return os.ErrDeadlineExceeded
	}
	c.mu.Lock()
	if c.state == stateClosed || c.desc == nil {
		c.mu.Unlock()
		return net.ErrClosed
	}
	if c.wake == nil {
		c.wake = &fdWake{r: make(chan struct{}, 1), w: make(chan struct{}, 1)}
	}
	ch, flag := c.wake.r, &c.rwait
	if write {
		ch, flag = c.wake.w, &c.wwait
	}
	*flag = true
	if err := c.armLocked(); err != nil {
		*flag = false
		c.mu.Unlock()
		return err
	}
	c.mu.Unlock()
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ch:
		return nil
	case <-t.C:
	}
	c.mu.Lock()
	*flag = false
	c.mu.Unlock()
	select {
	case <-ch: // a wake-up that raced with the timer
		return nil
	default:
		return os.ErrDeadlineExceeded
	}
}

// fdReader reads a bare socket for a read run's bufio.Reader. Polled, it
// never waits (errWouldBlock); slow (readSlow), it waits for input until
// deadline.
type fdReader struct {
	c        *conn
	slow     bool
	deadline int64 // unix nanos
}

func (r *fdReader) Read(p []byte) (int, error) {
	c := r.c
	if c.carry != nil {
		// Bytes read ahead before a pause come first.
		n := copy(p, *c.carry)
		if *c.carry = (*c.carry)[n:]; len(*c.carry) == 0 {
			c.carry = nil
		}
		return n, nil
	}
	for {
		if !c.acquireFD() {
			return 0, net.ErrClosed
		}
		n, err := sysRead(c.fd, p)
		c.releaseFD()
		switch {
		case err == nil && n > 0:
			return n, nil
		case err == nil:
			return 0, io.EOF
		case err != errAgain:
			return 0, err
		case !r.slow:
			return 0, errWouldBlock
		}
		if err := c.waitFD(false, r.deadline); err != nil {
			return 0, err
		}
	}
}

// writeNonblock writes what b holds without waiting; what the socket did not
// take stays in b.
func (c *conn) writeNonblock(b *gwqueue.Batch) error {
	if !c.acquireFD() {
		return net.ErrClosed
	}
	err := b.WriteNonblock(int(c.fd))
	c.releaseFD()
	return err
}

// writeFD is the flusher's write of rest to a bare socket: it waits for the
// socket while it is full, up to WriteTimeout, or closeLinger once the
// client is being dropped (closeNow, closeReply).
func (c *conn) writeFD(rest *gwqueue.Batch) error {
	deadline := time.Now().Add(c.g.cfg.WriteTimeout).UnixNano()
	shortened := false
	for {
		if !shortened && c.dropping() {
			shortened = true
			deadline = min(deadline, time.Now().Add(closeLinger).UnixNano())
		}
		if err := c.writeNonblock(rest); err != nil {
			return err
		}
		if rest.Len() == 0 {
			return nil
		}
		if err := c.waitFD(true, deadline); err != nil {
			return err
		}
	}
}

// dropping reports whether c is closing without waiting for its answer.
func (c *conn) dropping() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateClosing && c.lingerCh == nil
}
