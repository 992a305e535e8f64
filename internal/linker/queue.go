package linker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// queued is a command with its encoded size and the time it was queued.
type queued struct {
	cmd  *pb.Command
	size int
	at   time.Duration // since the queue's epoch (monotonic)
}

// cmdQueue is the ordered command queue of one gateway, bounded in bytes. It
// outlives link sessions.
type cmdQueue struct {
	max    int
	maxAge time.Duration // commands older than this are dropped unsent
	now    func() time.Time
	epoch  time.Time
	// expired counts the commands dropped for age (shared by the Linker's
	// queues).
	expired *atomic.Uint64
	mu      sync.Mutex
	items   []queued
	head    int
	bytes   int
	space   chan struct{} // closed when bytes drop under max; nil if nobody waits
	notify  chan struct{} // cap 1: wakes the sender
	closed  bool
}

func newCmdQueue(max int, maxAge time.Duration, expired *atomic.Uint64) *cmdQueue {
	return &cmdQueue{max: max, maxAge: maxAge, now: time.Now, epoch: time.Now(), expired: expired, notify: make(chan struct{}, 1)}
}

// expireLocked drops the commands queued before now-maxAge. They are the
// oldest, at the head, so the order of the rest is kept.
func (q *cmdQueue) expireLocked(now time.Time) {
	limit := now.Sub(q.epoch) - q.maxAge
	n, size := 0, 0
	for q.head+n < len(q.items) && q.items[q.head+n].at < limit {
		size += q.items[q.head+n].size
		n++
	}
	if n == 0 {
		return
	}
	clear(q.items[q.head : q.head+n])
	q.head += n
	q.bytes -= size
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
	}
	q.expired.Add(uint64(n))
	if q.space != nil && q.bytes < q.max {
		close(q.space)
		q.space = nil
	}
}

// push appends cmds in order, stamped with the time. Commands queued longer
// than maxAge ago are dropped first. When the queue is over budget it waits
// for room (bounded by ctx) if up reports the link is up, and fails with
// ErrLinkDown if not. An empty queue takes any command, so one large command
// never waits forever.
func (q *cmdQueue) push(ctx context.Context, up func() bool, items ...queued) error {
	n := 0
	for _, it := range items {
		n += it.size
	}
	q.mu.Lock()
	q.expireLocked(q.now())
	for q.bytes > 0 && q.bytes+n > q.max {
		if q.closed {
			q.mu.Unlock()
			return ErrNotLinked
		}
		if !up() {
			q.mu.Unlock()
			return ErrLinkDown
		}
		if q.space == nil {
			q.space = make(chan struct{})
		}
		space := q.space
		q.mu.Unlock()
		select {
		case <-space:
		case <-ctx.Done():
			return ctx.Err()
		}
		q.mu.Lock()
		q.expireLocked(q.now())
	}
	if q.closed {
		q.mu.Unlock()
		return ErrNotLinked
	}
	at := q.now().Sub(q.epoch)
	for i := range items {
		items[i].at = at
	}
	q.items = append(q.items, items...)
	q.bytes += n
	q.mu.Unlock()
	q.wake()
	return nil
}

func (q *cmdQueue) wake() {
	select {
	case q.notify <- struct{}{}:
	default:
	}
}

// take drops the commands queued longer than maxAge ago, then removes up to
// maxCmds commands or maxBytes bytes (at least one command if any is
// queued) and appends them to dst.
// empty reports whether no command is queued.
func (q *cmdQueue) empty() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.head == len(q.items)
}

func (q *cmdQueue) take(dst []*pb.Command, maxCmds, maxBytes int) []*pb.Command {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.expireLocked(q.now())
	size := 0
	for q.head < len(q.items) && len(dst) < maxCmds {
		it := q.items[q.head]
		if size > 0 && size+it.size > maxBytes {
			break
		}
		dst = append(dst, it.cmd)
		size += it.size
		q.items[q.head] = queued{}
		q.head++
	}
	q.bytes -= size
	if q.head == len(q.items) {
		q.items = q.items[:0]
		q.head = 0
		if cap(q.items) > 4096 {
			q.items = nil
		}
	}
	if q.space != nil && q.bytes <= q.max {
		close(q.space)
		q.space = nil
	}
	if q.head < len(q.items) {
		q.wake() // more to send
	}
	return dst
}

// close drops the queue: later pushes fail with ErrNotLinked and waiters are
// released.
func (q *cmdQueue) close() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.closed = true
	q.items = nil
	q.head = 0
	q.bytes = 0
	if q.space != nil {
		close(q.space)
		q.space = nil
	}
}
