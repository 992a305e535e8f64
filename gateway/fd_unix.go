//go:build unix

package gateway

import (
	"fmt"
	"net"
	"net/netip"
	"syscall"

	"golang.org/x/sys/unix"
)

// takeFD takes a plain client's socket out of Go's runtime poller: it
// duplicates nc's file descriptor (non-blocking, close-on-exec) and closes
// nc, which unregisters and closes only the original descriptor. It returns
// -1 and a nil error when nc has no file descriptor (TLS), and -1 with nc
// still open when the duplicate failed.
func takeFD(nc net.Conn) (int, error) {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return -1, nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, fmt.Errorf("gateway: take socket: %w", err)
	}
	fd, derr := -1, error(nil)
	if err := rc.Control(func(s uintptr) {
		fd, derr = unix.FcntlInt(s, unix.F_DUPFD_CLOEXEC, 0)
	}); err != nil {
		return -1, fmt.Errorf("gateway: take socket: %w", err)
	}
	if derr != nil {
		return -1, fmt.Errorf("gateway: take socket: dup: %w", derr)
	}
	if fd > 1<<30 {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("gateway: take socket: fd %d out of range", fd)
	}
	// O_NONBLOCK is a flag of the shared open file, already set by Go;
	// set it anyway rather than depend on that.
	if err := unix.SetNonblock(fd, true); err != nil {
		_ = unix.Close(fd)
		return -1, fmt.Errorf("gateway: take socket: %w", err)
	}
	_ = nc.Close()
	return fd, nil
}

// sysRead is one non-blocking read(2): errAgain when nothing is waiting,
// (0, nil) at the end of input.
func sysRead(fd int32, p []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), p)
		switch err {
		case nil:
			return n, nil
		case unix.EINTR:
			continue
		case unix.EAGAIN:
			return 0, errAgain
		default:
			return 0, err
		}
	}
}

func sysClose(fd int32) { _ = unix.Close(int(fd)) }

// sysShutdownWrite half-closes the socket: the peer reads EOF after what
// was sent.
func sysShutdownWrite(fd int32) { _ = unix.Shutdown(int(fd), unix.SHUT_WR) }

// sysPeerAddr is the socket's peer address as host:port (or a Unix socket's
// name), "" if unknown.
func sysPeerAddr(fd int32) string {
	sa, err := unix.Getpeername(int(fd))
	if err != nil {
		return ""
	}
	switch sa := sa.(type) {
	case *unix.SockaddrInet4:
		return netip.AddrPortFrom(netip.AddrFrom4(sa.Addr), uint16(sa.Port)).String()
	case *unix.SockaddrInet6:
		return netip.AddrPortFrom(netip.AddrFrom16(sa.Addr).Unmap(), uint16(sa.Port)).String()
	case *unix.SockaddrUnix:
		return sa.Name
	}
	return ""
}
