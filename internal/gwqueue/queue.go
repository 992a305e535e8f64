package gwqueue

// keepCap is the largest frame list a Queue keeps while empty; one that grew
// larger in a burst is released when taken.
const keepCap = 16

// Queue is a FIFO of frames. The zero value is an empty queue.
type Queue struct {
	frames [][]byte  // queued; backed by first until a second frame comes
	first  [1][]byte // inline storage for the common single frame
	bytes  int       // queued bytes
}

// Push appends frame. The queue keeps a reference: the caller must not
// modify frame afterwards.
func (q *Queue) Push(frame []byte) {
	if q.frames == nil {
		q.frames = q.first[:0]
	}
	q.frames = append(q.frames, frame)
	q.bytes += len(frame)
}

// Len returns the number of queued frames.
func (q *Queue) Len() int { return len(q.frames) }

// Bytes returns the number of queued bytes.
func (q *Queue) Bytes() int { return q.bytes }

// Reset drops every queued frame and releases the memory of the queue.
// Frames already moved into a Batch are not affected.
func (q *Queue) Reset() {
	clear(q.frames)
	q.frames, q.bytes = nil, 0
}

// take empties the queue, appending its frames to dst.
func (q *Queue) take(dst [][]byte) ([][]byte, int) {
	dst = append(dst, q.frames...)
	n := q.bytes
	clear(q.frames)
	if cap(q.frames) > keepCap {
		q.frames = nil
	} else {
		q.frames = q.frames[:0]
	}
	q.bytes = 0
	return dst, n
}
