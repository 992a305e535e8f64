package gateway

import (
	"time"
)

// The close handshake with a client that is still sending.
//
// When the gateway closes a client without waiting for its close frame (a
// protocol error such as 1009 while the client is still sending its big
// message, a frame timeout, a rate limit, a slow consumer, or the answer
// to the client's own close), closing the socket while input is unread
// makes the kernel send a TCP reset: the client's next write fails, and a
// client that writes its whole message before reading (most libraries) never
// reads the close frame, or its kernel drops the frame still unsent. So once
// the close frame is written, the flusher half-closes the socket (a FIN
// after the frame: the client's read ends cleanly), takes the reading over
// from the reader, and reads and discards what the client still sends,
// until the client closes its side (EOF), sends nothing for closeDrainIdle
// (a client not sending cannot cause a reset), closeDrainTime passes or
// drainLimit bytes were discarded; then it closes the socket.
//
// Not during shutdown (DrainTimeout bounds that), and not for a client
// whose close frame the gateway waits for (closeDrain: the reader gets it).

const (
	// closeDrainTime bounds the discarding read after a close frame.
	closeDrainTime = closeLinger
	// closeDrainIdle ends the drain when the client sends nothing for
	// that long.
	closeDrainIdle = 200 * time.Millisecond
	// closeDrainMin is the least drainLimit.
	closeDrainMin = 16 << 20
	// drainPoll is how often a drain waiting for the reader to stop looks.
	drainPoll = 5 * time.Millisecond
)

// drainLimit is how many bytes drainInput discards at most: the larger of
// closeDrainMin and two maximum messages.
func (c *conn) drainLimit() int64 {
	return max(closeDrainMin, 2*c.g.cfg.MaxMessageSize)
}

// drainInput half-closes c's socket and discards its input, bounded as the
// comment above says. The flusher calls it after writing the close frame,
// before finish.
func (c *conn) drainInput() {
	if c.g.draining.Load() {
		return
	}
	deadline := time.Now().Add(closeDrainTime)
	// The FIN goes first, so the client learns of the close even while the
	// reader still holds the socket.
	if c.nc != nil {
		if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
			_ = cw.CloseWrite()
		}
	} else if c.acquireFD() {
		sysShutdownWrite(c.fd)
		c.releaseFD()
	}
	// Take the reading over: no read run starts once this holds it. A read
	// run in progress ends soon (the client is closing, so no event goes
	// out); one waiting for the rest of a frame, or the reader goroutine of
	// a TLS client, reads (and drops) the input itself meanwhile and ends
	// at the client's EOF (finishing the client) or at FrameTimeout. The
	// flag stays set: finish follows.
	for !c.reading.CompareAndSwap(false, true) {
		if time.Now().After(deadline) || c.isClosed() {
			return
		}
		time.Sleep(drainPoll)
	}
	limit := c.drainLimit()
	if c.nc != nil {
		buf := make([]byte, readBufferSize)
		for n := int64(0); n < limit; {
			_ = c.nc.SetReadDeadline(drainWait(deadline))
			m, err := c.nc.Read(buf)
			n += int64(m)
			if err != nil {
				return
			}
		}
		return
	}
	buf := make([]byte, readBufferSize)
	for n := int64(0); n < limit; {
		if !c.acquireFD() {
			return
		}
		m, err := sysRead(c.fd, buf)
		c.releaseFD()
		switch {
		case err == nil && m > 0:
			n += int64(m)
		case err == nil: // EOF: the client closed its side
			return
		case err != errAgain:
			return
		default:
			if c.waitFD(false, drainWait(deadline).UnixNano()) != nil {
				return
			}
		}
	}
}

// drainWait is when a drain's wait for input ends: after closeDrainIdle,
// or at the drain's deadline.
func drainWait(deadline time.Time) time.Time {
	if t := time.Now().Add(closeDrainIdle); t.Before(deadline) {
		return t
	}
	return deadline
}
