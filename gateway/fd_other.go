//go:build !unix

package gateway

import (
	"errors"
	"net"
)

// takeFD keeps every connection a net.Conn on this platform.
func takeFD(net.Conn) (int, error) { return -1, nil }

func sysRead(int32, []byte) (int, error) { return 0, errors.ErrUnsupported }

func sysClose(int32) {}

func sysShutdownWrite(int32) {}

func sysPeerAddr(int32) string { return "" }
