//go:build linux

package gateway

import (
	"net"

	"golang.org/x/sys/unix"
)

// unreadBytes returns the bytes waiting in nc's kernel receive queue
// (SIOCINQ), 0 if unknown.
func unreadBytes(nc net.Conn) int {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return 0
	}
	raw, err := tc.SyscallConn()
	if err != nil {
		return 0
	}
	n := 0
	_ = raw.Control(func(fd uintptr) {
		if v, err := unix.IoctlGetInt(int(fd), unix.SIOCINQ); err == nil {
			n = v
		}
	})
	return n
}
