package gwqueue

import (
	"io"
	"net"
)

// maxIovec bounds the frames passed to one writev (IOV_MAX on Linux).
const maxIovec = 1024

// keepBatch is the largest frame list a Batch keeps once reset.
const keepBatch = 4096

// Batch is the frames a writer took from a Queue, written front to back.
// The zero value is an empty batch; a writer reuses one Batch for every
// connection it serves, so its buffers are allocated once.
type Batch struct {
	bufs [][]byte // taken frames; bufs[next:] are unwritten
	next int      // first frame not fully written
	off  int      // bytes of bufs[next] already written
	left int      // unwritten bytes
	iov  iovecs   // scratch for WriteNonblock
}

// Fill moves every frame queued in q to the end of the batch and returns
// the number of bytes moved (0: q was empty).
func (b *Batch) Fill(q *Queue) int {
	var n int
	b.bufs, n = q.take(b.bufs)
	b.left += n
	return n
}

// Len returns the number of bytes not written yet.
func (b *Batch) Len() int { return b.left }

// Reset drops the batch, written or not, keeping its buffers for reuse
// unless a burst made them large.
func (b *Batch) Reset() {
	clear(b.bufs)
	if cap(b.bufs) > keepBatch {
		b.bufs = nil
	} else {
		b.bufs = b.bufs[:0]
	}
	b.next, b.off, b.left = 0, 0, 0
}

// consume marks n more bytes as written.
func (b *Batch) consume(n int) {
	b.left -= n
	for n > 0 {
		rest := len(b.bufs[b.next]) - b.off
		if n < rest {
			b.off += n
			return
		}
		n -= rest
		b.bufs[b.next] = nil
		b.next++
		b.off = 0
	}
	for b.next < len(b.bufs) && len(b.bufs[b.next]) == 0 {
		b.bufs[b.next] = nil
		b.next++
	}
}

// WriteTo writes the rest of the batch to w, blocking, with one writev
// where w supports it (*net.TCPConn). The batch is consumed as written.
func (b *Batch) WriteTo(w io.Writer) (int64, error) {
	var total int64
	for b.left > 0 {
		end := min(len(b.bufs), b.next+maxIovec)
		bufs := make(net.Buffers, 0, end-b.next)
		bufs = append(bufs, b.bufs[b.next][b.off:])
		bufs = append(bufs, b.bufs[b.next+1:end]...)
		n, err := bufs.WriteTo(w)
		total += n
		b.consume(int(n))
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
