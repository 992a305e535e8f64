//go:build linux

package gwqueue

import (
	"unsafe"

	"golang.org/x/sys/unix"
)

type iovecs []unix.Iovec

// WriteNonblock writes as much of the batch as the socket fd takes now,
// with one writev per up to 1024 frames (write for a single frame), and
// never waits: it returns nil
// when the socket is full (EAGAIN), leaving the rest in the batch (Len > 0).
// fd must be in non-blocking mode, as Go's sockets are; call it from
// syscall.RawConn.Write so the fd stays open meanwhile. It does not
// allocate once the batch has been used.
func (b *Batch) WriteNonblock(fd int) error {
	for b.left > 0 {
		end := min(len(b.bufs), b.next+maxIovec)
		b.iov = b.iov[:0]
		for i := b.next; i < end; i++ {
			p := b.bufs[i]
			if i == b.next {
				p = p[b.off:]
			}
			if len(p) == 0 {
				continue
			}
			v := unix.Iovec{Base: &p[0]}
			v.SetLen(len(p))
			b.iov = append(b.iov, v)
		}
		if len(b.iov) == 0 { // only empty frames in this stretch
			b.next, b.off = end, 0
			continue
		}
		var n uintptr
		var errno unix.Errno
		if len(b.iov) == 1 { // the common case at low load: plain write(2)
			n, _, errno = unix.Syscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(b.iov[0].Base)), uintptr(b.iov[0].Len))
		} else {
			n, _, errno = unix.Syscall(unix.SYS_WRITEV, uintptr(fd), uintptr(unsafe.Pointer(&b.iov[0])), uintptr(len(b.iov)))
		}
		clear(b.iov) // drop the frame pointers
		switch errno {
		case 0:
			b.consume(int(n))
		case unix.EINTR:
		case unix.EAGAIN:
			return nil
		default:
			return errno
		}
	}
	return nil
}
