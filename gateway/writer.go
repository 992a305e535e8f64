package gateway

import (
	"errors"
	"math"
	"os"
	"runtime"
	"sync"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/gwqueue"
	"github.com/gatewayworker/gatewayworker/internal/wsconn"
)

// Writing to clients.
//
// A client's frames go into its queue (send). Who writes them:
//
//   - Normally one of a few writer shards (one per CPU, by connection
//     sequence). send puts the client on its shard's dirty list; the shard's
//     goroutine (running only while the list is not empty) takes the list,
//     and for each client takes everything queued and writes it with one
//     non-blocking writev on the client's bare socket (fd.go). While it works,
//     new frames pile up in the queues, so under load one write carries
//     several frames (each still its own WebSocket frame); at low load a
//     frame costs one write and no goroutine start per client.
//   - A flusher goroutine of the client (flush) when the socket is full (a
//     slow or stuck client: it waits for the socket with WriteTimeout,
//     without holding up the shard), when the client is closing (the
//     close frame, then the linger) and for clients without a bare socket
//     (TLS). It hands the client back to its shard once its queue is
//     empty.
//
// c.flushing says that one of them owns the client's writing: at most one
// writes at a time, and a client is on a dirty list at most once.

// writers is the set of writer shards.
type writers struct {
	shards []writerShard
}

func (w *writers) init(g *Gateway) {
	w.shards = make([]writerShard, max(1, runtime.GOMAXPROCS(0)))
	for i := range w.shards {
		w.shards[i].g = g
	}
}

// schedule puts c on its shard's dirty list. The caller holds c.mu and has
// set c.flushing.
func (w *writers) schedule(c *conn) {
	w.shards[c.seq%uint64(len(w.shards))].add(c)
}

// writerShard writes the queued frames of its dirty clients. Its goroutine
// is owned by g.connWG and runs only while the dirty list is not empty.
type writerShard struct {
	g *Gateway

	mu      sync.Mutex
	dirty   []*conn
	running bool

	// Owned by the running goroutine.
	work  []*conn
	batch gwqueue.Batch
}

func (s *writerShard) add(c *conn) {
	s.mu.Lock()
	s.dirty = append(s.dirty, c)
	start := !s.running
	s.running = true
	s.mu.Unlock()
	if start {
		s.g.connWG.Add(1)
		go s.run()
	}
}

// run writes until the dirty list stays empty.
func (s *writerShard) run() {
	defer s.g.connWG.Done()
	for {
		s.mu.Lock()
		if len(s.dirty) == 0 {
			s.running = false
			s.mu.Unlock()
			return
		}
		s.work, s.dirty = s.dirty, s.work
		s.mu.Unlock()
		for i, c := range s.work {
			s.write(c)
			s.work[i] = nil
		}
		s.work = s.work[:0]
	}
}

// write sends what c has queued without waiting for its socket.
func (s *writerShard) write(c *conn) {
	c.mu.Lock()
	switch {
	case c.state == stateClosed:
		c.flushing = false
		c.mu.Unlock()
		return
	case c.state == stateClosing:
		// The close frame and the linger are the flusher's job.
		c.mu.Unlock()
		c.startFlusher(nil)
		return
	}
	n := s.batch.Fill(&c.q)
	if n == 0 {
		c.flushing = false
		c.mu.Unlock()
		return
	}
	c.inflight = clampInflight(n)
	c.mu.Unlock()

	if err := c.writeNonblock(&s.batch); err != nil {
		s.batch.Reset()
		c.mu.Lock()
		c.inflight = 0
		c.mu.Unlock()
		c.writeFailed(err)
		return
	}
	if s.batch.Len() > 0 {
		// The socket is full: a flusher waits for it with the rest.
		rest := new(gwqueue.Batch)
		*rest, s.batch = s.batch, gwqueue.Batch{}
		c.startFlusher(rest)
		return
	}
	s.batch.Reset()
	c.mu.Lock()
	c.inflight = 0
	if c.q.Len() > 0 || c.state != stateOpen {
		s.g.wr.schedule(c) // more came meanwhile: next round
	} else {
		c.flushing = false
	}
	c.mu.Unlock()
}

// clampInflight fits a batch's size into conn.inflight.
func clampInflight(n int) int32 { return int32(min(n, math.MaxInt32)) }

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
	if pending := c.q.Bytes() + int(c.inflight); pending > 0 && pending+len(frame) > c.g.cfg.MaxPending {
		c.g.stats.slowConsumer.Add(1)
		start := c.beginCloseLocked(wsconn.CloseSlowConsumer, "slow consumer", closeNow, nil,
			wsconn.AppendClose(nil, wsconn.CloseSlowConsumer, "slow consumer"))
		c.mu.Unlock()
		if start {
			c.startFlusher(nil)
		}
		return false
	}
	c.q.Push(frame)
	start := c.kickLocked()
	c.mu.Unlock()
	if start {
		c.startFlusher(nil)
	}
	return true
}

// sendControl queues a control frame (ping, pong) within half the
// MaxPending budget: one that would pass it is dropped, so a ping flood
// cannot grow the queue, nor fill it so that the messages for the client
// no longer fit (RFC 6455 section 5.5.3 lets an endpoint skip pongs). A
// flooder that does not read is closed with 4000 when WriteTimeout passes.
func (c *conn) sendControl(frame []byte) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return
	}
	if pending := c.q.Bytes() + int(c.inflight); pending > 0 && pending+len(frame) > c.g.cfg.MaxPending/2 {
		c.mu.Unlock()
		return
	}
	c.q.Push(frame)
	start := c.kickLocked()
	c.mu.Unlock()
	if start {
		c.startFlusher(nil)
	}
}

// kickLocked makes sure someone writes c's queue: its shard for an open
// client with a bare socket (nothing more to do), else a flusher the
// caller starts with startFlusher after unlocking when it returns true.
func (c *conn) kickLocked() bool {
	if c.flushing {
		return false
	}
	c.flushing = true
	if c.nc == nil && c.state == stateOpen {
		c.g.wr.schedule(c)
		return false
	}
	return true
}

// startFlusher starts the client's flusher goroutine, which first writes
// rest (if not nil). c.flushing must be set.
func (c *conn) startFlusher(rest *gwqueue.Batch) {
	c.g.connWG.Add(1)
	go c.flush(rest)
}

// flush is the client's flusher goroutine: it writes, blocking up to
// WriteTimeout per write, until the queue is empty. An open client then
// goes back to its shard (or, without a file descriptor, simply has no
// writer until the next send); a closing client waits for the client's
// close frame (bounded by closeLinger) and is closed.
func (c *conn) flush(rest *gwqueue.Batch) {
	defer c.g.connWG.Done()
	if rest == nil {
		rest = new(gwqueue.Batch)
	}
	for {
		if rest.Len() > 0 {
			err := c.writeRest(rest)
			rest.Reset()
			c.mu.Lock()
			c.inflight = 0
			c.mu.Unlock()
			if err != nil {
				c.writeFailed(err)
				return
			}
		}
		c.mu.Lock()
		if c.state == stateClosed {
			c.flushing = false
			c.mu.Unlock()
			return
		}
		n := rest.Fill(&c.q)
		if n > 0 {
			c.inflight = clampInflight(n)
			c.mu.Unlock()
			continue
		}
		if c.state == stateOpen {
			if c.nc != nil {
				// A deadline left behind would fail the next write.
				_ = c.nc.SetWriteDeadline(time.Time{})
			}
			c.flushing = false
			c.mu.Unlock()
			return
		}
		linger := c.lingerCh
		c.mu.Unlock()
		c.linger(linger)
		return
	}
}

// writeRest is the flusher's blocking write of rest, bounded as
// setWriteDeadline says.
func (c *conn) writeRest(rest *gwqueue.Batch) error {
	if c.nc == nil {
		return c.writeFD(rest)
	}
	c.setWriteDeadline()
	_, err := rest.WriteTo(c.nc)
	return err
}

// setWriteDeadline arms the deadline of the flusher's next write:
// WriteTimeout, or at most closeLinger for a client being dropped (closeNow,
// closeReply), whose close frame is not worth waiting long for. It is set
// under c.mu so that a closeNow shortening it meanwhile is not undone.
func (c *conn) setWriteDeadline() {
	c.mu.Lock()
	timeout := c.g.cfg.WriteTimeout
	if c.state == stateClosing && c.lingerCh == nil {
		timeout = min(timeout, closeLinger)
	}
	_ = c.nc.SetWriteDeadline(time.Now().Add(timeout))
	c.mu.Unlock()
}

// linger waits for the client's close frame (the reader calls finish when
// it arrives, closing ch) or closeLinger, or without ch discards the
// client's input for a bounded time (closedrain.go), then closes the client.
func (c *conn) linger(ch chan struct{}) {
	if ch != nil {
		t := time.NewTimer(closeLinger)
		select {
		case <-ch:
		case <-t.C:
		}
		t.Stop()
	} else {
		c.drainInput()
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
