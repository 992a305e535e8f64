package gwqueue

import (
	"io"
	"net"
)

// keepCap is the largest backing array a Queue keeps while idle; one that
// grew larger in a burst is released once written.
const keepCap = 64

// Queue is a FIFO of frames plus the batch being written. The zero value is
// an empty queue.
type Queue struct {
	frames [][]byte    // queued
	batch  [][]byte    // taken, being written (owns the backing array)
	out    net.Buffers // the unwritten rest of batch, consumed by WriteTo
	spare  [][]byte    // a written batch's backing array, reused by Push
	bytes  int         // queued bytes
}

// Push appends frame. The queue keeps a reference: the caller must not
// modify frame afterwards.
func (q *Queue) Push(frame []byte) {
	if q.frames == nil && q.spare != nil {
		q.frames, q.spare = q.spare, nil
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
}

// Len returns the number of queued frames (not counting the batch).
func (q *Queue) Len() int { return len(q.frames) }

// Bytes returns the number of queued bytes (not counting the batch).
func (q *Queue) Bytes() int { return q.bytes }

// Take moves every queued frame into the write batch and returns its size
// in bytes (0: nothing to write). The previous batch must be Done.
func (q *Queue) Take() int {
	n := q.bytes
	q.batch, q.out = q.frames, q.frames
	q.frames, q.bytes = nil, 0
	return n
}

// WriteTo writes the batch to w, with one writev where w supports it
// (*net.TCPConn). Only the writer calls it, between Take and Done.
func (q *Queue) WriteTo(w io.Writer) (int64, error) {
	return q.out.WriteTo(w)
}

// Done releases the batch (written or not) and keeps its backing array for
// reuse unless it is large.
func (q *Queue) Done() {
	b := q.batch
	q.batch, q.out = nil, nil
	if b == nil || cap(b) > keepCap {
		return
	}
	clear(b)
	if q.spare == nil {
		q.spare = b[:0]
	}
}

// Reset drops every queued frame and releases the memory of the queue. A
// batch being written stays valid until Done.
func (q *Queue) Reset() {
	q.frames, q.spare, q.bytes = nil, nil, 0
}
