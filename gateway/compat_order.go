package gateway

import (
	"net"
	"sync/atomic"
	"time"
)

// GatewayClient opens a new TCP connection for each request (its default
// $persistentConnection = false), so `bindUid(...)` then
// `getUidByClientId(...)` reach the gateway on two connections. PHP's
// single-threaded Gateway handles the first connection's bytes before it
// accepts the second; here each connection has its own goroutine, so the
// compat listener restores that order: a connection starts applying its
// requests only once every older connection has applied the bytes that had
// reached the gateway when it was accepted (bounded by orderWait).

// orderWait bounds how long a new connection waits for older ones.
const orderWait = time.Second

// countingConn counts the bytes read from the socket.
type countingConn struct {
	net.Conn
	read    atomic.Int64 // bytes read from the kernel
	applied atomic.Int64 // bytes of the packets applied
	done    atomic.Bool  // the connection's goroutine ended
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.read.Add(int64(n))
	return n, err
}

// orderMark is how far an older connection must have applied.
type orderMark struct {
	c      *countingConn
	target int64
}

// orderMarks records, for a connection being accepted, the bytes every
// older connection had received (read plus waiting in the kernel).
func (x *compat) orderMarksLocked() []orderMark {
	marks := make([]orderMark, 0, len(x.counted))
	for c := range x.counted {
		read := c.read.Load()
		if waiting := int64(unreadBytes(c.Conn)); waiting > 0 || read > c.applied.Load() {
			marks = append(marks, orderMark{c: c, target: read + waiting})
		}
	}
	return marks
}

// awaitOrder waits until every mark is applied, its connection ended, or
// orderWait passed.
func awaitOrder(marks []orderMark) {
	if len(marks) == 0 {
		return
	}
	deadline := time.Now().Add(orderWait)
	for _, m := range marks {
		for m.c.applied.Load() < m.target && !m.c.done.Load() {
			if time.Now().After(deadline) {
				return
			}
			time.Sleep(50 * time.Microsecond)
		}
	}
}
