package linker

import (
	"context"
	"sync"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// queued is a command with its encoded size.
type queued struct {
	cmd  *pb.Command
	size int
}

// cmdQueue is the ordered command queue of one gateway, bounded in bytes. It
// outlives link sessions.
type cmdQueue struct {
	max    int
	mu     sync.Mutex
	items  []queued
	head   int
	bytes  int
	space  chan struct{} // closed when bytes drop under max; nil if nobody waits
	notify chan struct{} // cap 1: wakes the sender
	closed bool
}

func newCmdQueue(max int) *cmdQueue {
	return &cmdQueue{max: max, notify: make(chan struct{}, 1)}
}

// push appends cmds in order. When the queue is over budget it waits for
// room (bounded by ctx) if up reports the link is up, and fails with
// ErrLinkDown if not. An empty queue takes any command, so one large command
// never waits forever.
func (q *cmdQueue) push(ctx context.Context, up func() bool, items ...queued) error {
	n := 0
	for _, it := range items {
		n += it.size
	}
	q.mu.Lock()
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
	}
	if q.closed {
		q.mu.Unlock()
		return ErrNotLinked
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

// take removes up to maxCmds commands or maxBytes bytes (at least one
// command if any is queued) and appends them to dst.
func (q *cmdQueue) take(dst []*pb.Command, maxCmds, maxBytes int) []*pb.Command {
	q.mu.Lock()
	defer q.mu.Unlock()
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
