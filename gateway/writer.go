package gateway

import (
	"errors"
	"os"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/wsconn"
)

// send queues an encoded frame for the client. The frame is shared with
// other clients and must not be modified. It never blocks on the network;
// a client whose queue would pass MaxPending is closed with 4000. It
// reports whether the frame was queued.
func (c *conn) send(frame []byte) bool {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return false
	}
	// A frame larger than the budget still goes to an empty queue.
	if pending := c.q.Bytes() + c.inflight; pending > 0 && pending+len(frame) > c.g.cfg.MaxPending {
		c.g.stats.slowConsumer.Add(1)
		start := c.beginCloseLocked(wsconn.CloseSlowConsumer, "slow consumer", closeNow, nil,
			wsconn.AppendClose(nil, wsconn.CloseSlowConsumer, "slow consumer"))
		c.mu.Unlock()
		if start {
			go c.flushFn()
		}
		return false
	}
	c.q.Push(frame)
	start := c.kickLocked()
	c.mu.Unlock()
	if start {
		go c.flushFn()
	}
	return true
}

// sendControl queues a control frame (pong) outside the budget.
func (c *conn) sendControl(frame []byte) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	c.q.Push(frame)
	start := c.kickLocked()
	c.mu.Unlock()
	if start {
		go c.flushFn()
	}
}

// kickLocked marks a flusher as running if none is; the caller starts it
// (go c.flushFn()) after unlocking when it returns true.
func (c *conn) kickLocked() bool {
	if c.flushing {
		return false
	}
	c.flushing = true
	c.g.connWG.Add(1)
	return true
}

// flush is the client's flusher goroutine: it writes everything queued
// with one writev per round and exits when the queue is empty, so an idle
// client has no writer goroutine. For a closing client it then waits for
// the client's close frame (bounded by closeLinger) and closes the socket.
func (c *conn) flush() {
	defer c.g.connWG.Done()
	for {
		c.mu.Lock()
		if c.state == stateClosed {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		n := c.q.Take()
		if n == 0 {
			c.q.Done()
			c.flushing = false
			closing, linger := c.state == stateClosing, c.lingerCh
			c.mu.Unlock()
			if closing {
				c.linger(linger)
			}
			return
		}
		c.inflight = n
		c.mu.Unlock()

		_ = c.nc.SetWriteDeadline(time.Now().Add(c.g.cfg.WriteTimeout))
		_, err := c.q.WriteTo(c.nc)

		c.mu.Lock()
		c.inflight = 0
		c.q.Done()
		c.mu.Unlock()
		if err != nil {
			c.writeFailed(err)
			return
		}
	}
}

// linger waits for the client's close frame (the reader calls finish when
// it arrives, closing ch) or closeLinger, then closes the client.
func (c *conn) linger(ch chan struct{}) {
	if ch != nil {
		t := time.NewTimer(closeLinger)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	}
	c.finish(codeAbnormal, "")
}

// writeFailed ends a client whose write failed; a missed deadline is a
// slow consumer.
func (c *conn) writeFailed(err error) {
	c.mu.Lock()
	c.flushing = false
	c.mu.Unlock()
	if errors.Is(err, os.ErrDeadlineExceeded) {
		if c.markSlow() {
			c.g.stats.slowConsumer.Add(1)
		}
		c.finish(wsconn.CloseSlowConsumer, "slow consumer")
		return
	}
	c.finish(codeAbnormal, "")
}

// markSlow reports whether c was open (so the slow close is counted once).
func (c *conn) markSlow() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateOpen
}
