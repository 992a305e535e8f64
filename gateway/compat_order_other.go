//go:build !linux

package gateway

import "net"

// unreadBytes is unknown here: requests of different connections are not
// ordered (see compat_order.go).
func unreadBytes(net.Conn) int { return 0 }
