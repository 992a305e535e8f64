package gateway

import (
	"bufio"
	"errors"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/gwqueue"
	"github.com/gatewayworker/gatewayworker/internal/netpoll"
	"github.com/gatewayworker/gatewayworker/internal/rendezvous"
	"github.com/gatewayworker/gatewayworker/internal/wsconn"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// connState is the life cycle of a client: open, closing (a close frame is
// queued; no more events or messages) and closed (socket closed, removed).
type connState uint8

const (
	stateOpen connState = iota
	stateClosing
	stateClosed
)

// closeMode says how a close proceeds.
type closeMode uint8

const (
	// closeDrain sends the close frame after the queued frames and waits
	// (closeLinger) for the client's close frame: a polite close
	// (close_client, shutdown).
	closeDrain closeMode = iota
	// closeNow drops the queued frames, sends the close frame and closes
	// the socket: the client misbehaves (slow, silent, over its rate) or
	// the worker asked for an immediate close.
	closeNow
	// closeReply sends the close frame after the queued frames and closes
	// the socket: the client sent its close frame or broke the protocol.
	closeReply
)

// codeAbnormal is the close code reported when the connection dropped
// without a close frame (RFC 6455 1006; never sent on the wire).
const codeAbnormal = 1006

// conn is one client. Fields are grouped by who may touch them; see
// the package documentation (doc.go) for the lock order.
type conn struct {
	g   *Gateway
	seq uint64
	// nc is the client's connection when it has no bare socket (TLS, or
	// taking the socket failed): a reader goroutine and a flusher serve it.
	// nil otherwise.
	nc net.Conn
	// fd is the client's bare, non-blocking socket when nc is nil (fd.go);
	// fdRefs counts the syscalls in flight on it, and fdClosing.
	fd     int32
	fdRefs atomic.Int32

	// Heartbeat state: lastSeen is written by readers, read by the
	// heartbeat; lastPing belongs to the heartbeat goroutine.
	lastSeen atomic.Int64 // unix nanos of the last frame from the client
	lastPing int64

	// Reader state, touched only by the goroutine that holds reading.
	rd       wsconn.Reader
	tokens   float64 // rate limit bucket
	tokensAt int64
	// carry holds the bytes a read run had taken from a bare socket when
	// the client paused (at most a read buffer: a partial frame, or frames
	// not handled yet); the next run reads them first (fdReader).
	carry *[]byte

	// The small fields are packed: conn is part of the idle memory budget
	// (TestConnSize).
	reading     atomic.Bool
	inflight    int32 // bytes taken from q and not written yet (capped)
	mu          sync.Mutex
	closeCode   uint16 // with closeReason, for the Close event
	state       connState
	connectSent bool // the Connect event went out: a Close event must follow
	// paused: the client's events wait for room on a worker link (or for a
	// worker): its socket is not read until resume (router.go, link.go).
	paused bool
	// awaitConnect: the Connect event is not acked yet; the client is not
	// read until it is (link.go), so that what the worker's connect handler
	// did (bind a uid, join groups, set the session, close) is applied
	// before the client's first message is read.
	awaitConnect bool
	// peerGone: the client hung up while paused; it is read to its end,
	// past the pause (what it sent before is delivered).
	peerGone bool
	flushing bool // a writer shard or the flusher owns the writing (writer.go)
	readOff  bool // the reader stopped: the poller is no longer armed for input
	// rwait and wwait say that a slow reader, a flusher, waits for the
	// poller on wake (bare sockets, fd.go).
	rwait, wwait bool
	// linkEvents counts c's events queued or in flight on worker links,
	// not acked (link.go: ClientWindow).
	linkEvents  atomic.Int32
	desc        *netpoll.Desc
	wake        *fdWake // made on the first wait
	q           gwqueue.Queue
	lingerCh    chan struct{}
	closeReason string
	uid         string
	groups      []string
	// session is replaced, never modified, so events may share it.
	session     map[string]string
	sessionSize int // approximate encoded size of session
	sessionVer  uint64
}

// newConn makes a client of nc, or of its bare socket fd when fd >= 0 (nc
// is then closed and not kept).
func newConn(g *Gateway, nc net.Conn, fd int) *conn {
	c := &conn{g: g, seq: g.seq.Add(1), fd: -1}
	if fd >= 0 {
		c.fd = int32(fd)
	} else {
		c.nc = nc
	}
	c.rd.Limits = wsconn.Limits{MaxFrameSize: g.cfg.MaxFrameSize, MaxMessageSize: g.cfg.MaxMessageSize}
	now := time.Now().UnixNano()
	c.lastSeen.Store(now)
	c.lastPing = now
	c.tokens = float64(g.cfg.MessageBurst)
	c.tokensAt = now
	return c
}

// key is the client's routing key.
func (c *conn) key() uint64 { return rendezvous.Key(c.g.nodeID, c.seq) }

// remoteAddr is the client's address (host:port), built on demand: an idle
// client does not keep the string.
func (c *conn) remoteAddr() string {
	if a, ok := c.g.keptAddr(c); ok {
		return a.String() // the real client's, behind a proxy
	}
	if c.nc != nil {
		return c.nc.RemoteAddr().String()
	}
	if !c.acquireFD() {
		return ""
	}
	defer c.releaseFD()
	return sysPeerAddr(c.fd)
}

// attach makes an upgraded client live: registered, announced to a worker
// with a Connect event, and watched for readability.
// ca and proxied are the client's address as the handshake found it
// (limits.go).
func (g *Gateway) attach(nc net.Conn, remote string, hs *wsconn.Handshake, ca clientAddr, proxied bool) {
	fd, err := takeFD(nc)
	if err != nil {
		// Served as a net.Conn instead.
		g.log.Debug("client socket kept as net.Conn", "remote", remote, "err", err)
	}
	c := newConn(g, nc, fd)
	g.keepAddr(c, ca, proxied)
	// Set before c is published and never changed: senders read it too
	// (deflated), without holding reading.
	c.rd.Deflate, c.rd.WindowBits = hs.Compressed, hs.WindowBits
	g.hub.add(c)
	if g.draining.Load() {
		// Shutdown began after the handshake; drain may have missed c.
		// It still gets its 1001 (closeReply: c is not read, so no
		// linger for its answer).
		c.close(wsconn.CloseGoingAway, "going away", closeReply)
		return
	}
	connect := &pb.Connect{RemoteAddr: remote, Path: hs.Path, Query: hs.RawQuery, Subprotocol: hs.Protocol}
	size := len(remote) + len(hs.Path) + len(hs.RawQuery) + len(hs.Protocol)
	if len(hs.Headers) > 0 {
		connect.Headers = make([]*pb.Header, len(hs.Headers))
		for i, h := range hs.Headers {
			connect.Headers[i] = &pb.Header{Name: h.Name, Value: h.Value}
			size += len(h.Name) + len(h.Value) + 8
		}
	}
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.connectSent = true
	c.awaitConnect = true
	g.emitLocked(c, &pb.Event{Kind: &pb.Event_Connect{Connect: connect}}, size)
	if c.nc != nil {
		// No bare socket to poll (e.g. a TLS connection, whose buffered
		// plaintext the socket's readiness does not show): one reader
		// goroutine.
		c.mu.Unlock()
		g.connWG.Add(1)
		go c.readLoop()
		return
	}
	// Registered under c.mu so that finish (which removes it) cannot run
	// in between and leave a registration on a closed, reused fd.
	desc, err := g.poller.AddFD(int(c.fd), c.onReady)
	if err == nil {
		c.desc = desc
	}
	c.mu.Unlock()
	if err != nil {
		g.log.Warn("client not registered with the poller", "remote", remote, "err", err)
		c.finish(wsconn.CloseInternalError, "internal error")
	}
}

// readTask is a client as the pool's task of reading it: scheduling it
// needs no func value per client.
type readTask conn

func (t *readTask) Run() { (*conn)(t).readReady() }

// readReady reads the frames available, then re-arms the poller. An idle
// client holds no goroutine and no read buffer.
func (c *conn) readReady() {
	if !c.reading.CompareAndSwap(false, true) {
		return
	}
	rb := c.g.readers.Get().(*readBuf)
	rb.fr = fdReader{c: c}
	rb.br.Reset(&rb.fr)
	if res := c.readFrames(rb, true); res != readHandedOff {
		c.endRead(rb, res)
	} // else readSlow owns rb and the end of the run now.
}

// readBuf is a read run's buffer, pooled: a bufio.Reader over fr.
type readBuf struct {
	br *bufio.Reader
	fr fdReader
}

// readSlow continues readReady on a goroutine of the client's own when a
// frame (or fragmented message) has only partly arrived: it waits for the
// rest, up to FrameTimeout, without holding one of the pool's workers, so
// clients that stall mid-frame delay nobody else.
func (c *conn) readSlow(rb *readBuf) {
	defer c.g.connWG.Done()
	rb.fr.slow = true
	c.endRead(rb, c.readFrames(rb, false))
}

// endRead ends a read run: it returns rb to the pool, and re-arms the
// poller if res says the client is to be read again (or for a flusher
// waiting to write). A paused client is read again when resumed.
func (c *conn) endRead(rb *readBuf, res readResult) {
	rb.br.Reset(nil)
	rb.fr = fdReader{}
	c.g.readers.Put(rb)
	// Releasing reading orders this run before the next one, which the
	// re-armed poller may start at once.
	c.reading.Store(false)
	c.mu.Lock()
	var err error
	// Resumed while the run ended paused: read again at once, as bytes
	// may be carried and the socket stay quiet.
	again := res == readPaused && !c.pausedLocked() && c.state == stateOpen
	more := res == readMore
	if !more {
		c.readOff = true
	}
	// A paused client is armed for its hang-up only.
	if c.state != stateClosed && c.desc != nil && (more || c.wwait || (res == readPaused && c.pausedLocked())) {
		err = c.armLocked()
	}
	if again && err == nil {
		c.readOff = false
		c.scheduleReadLocked()
	}
	c.mu.Unlock()
	if err != nil && !errors.Is(err, netpoll.ErrRemoved) {
		c.finish(codeAbnormal, "")
	}
}

// readLoop is the reader goroutine of a client that cannot be polled. It
// blocks, without a deadline, until the client sends something, then reads
// as readReady does.
func (c *conn) readLoop() {
	defer c.g.connWG.Done()
	// reading tells a draining close (closedrain.go) that the reader runs.
	c.reading.Store(true)
	defer c.reading.Store(false)
	rb := &readBuf{br: bufio.NewReaderSize(c.nc, readBufferSize)}
	for {
		_ = c.nc.SetReadDeadline(time.Time{})
		if _, err := rb.br.Peek(1); err != nil {
			c.readFailed(err)
			return
		}
		switch c.readFrames(rb, false) {
		case readMore:
		case readPaused:
			if !c.waitResume() {
				return
			}
		default:
			return
		}
	}
}

// readResult says how readFrames ended.
type readResult uint8

const (
	readDone      readResult = iota // the client is closing or gone
	readMore                        // read it again when it is readable
	readHandedOff                   // readSlow took over br and the read run
	readPaused                      // read it again when resumed (flow control)
)

// readFrames reads frames while bytes are buffered or a fragmented message
// is incomplete. Polled (on a pool worker, woken by the poller), it reads a
// frame only once it has wholly arrived, and hands a partly received one
// over to readSlow.
func (c *conn) readFrames(rb *readBuf, polled bool) readResult {
	br := rb.br
	for {
		switch c.readState() {
		case stateClosed:
			return readDone
		case statePaused:
			// At a message boundary: a message in progress is read to its
			// end first. What the buffer holds beyond it is kept for the
			// next run (a net.Conn's reader keeps its buffer while it
			// waits).
			if !c.rd.Fragmenting() {
				if n := br.Buffered(); n > 0 && c.nc == nil {
					b, _ := br.Peek(n)
					keep := append([]byte(nil), b...)
					_, _ = br.Discard(n)
					c.carry = &keep
				}
				return readPaused
			}
		}
		if c.nc != nil {
			_ = c.nc.SetReadDeadline(time.Now().Add(c.g.cfg.FrameTimeout))
		} else {
			rb.fr.deadline = time.Now().Add(c.g.cfg.FrameTimeout).UnixNano()
		}
		if polled {
			if br.Buffered() == 0 && !c.rd.Fragmenting() {
				// The poller saw input: this fills br without waiting.
				if _, err := br.Peek(1); err != nil {
					if errors.Is(err, errWouldBlock) {
						return readMore // a spurious wake-up
					}
					c.readFailed(err)
					return readDone
				}
			}
			if buf, _ := br.Peek(br.Buffered()); !c.rd.Ready(buf) {
				c.g.connWG.Add(1)
				go c.readSlow(rb)
				return readHandedOff
			}
		}
		f, err := c.rd.ReadFrame(br)
		if err != nil {
			c.readFailed(err)
			return readDone
		}
		now := time.Now().UnixNano()
		c.lastSeen.Store(now)
		switch f.Kind {
		case wsconn.KindMessage:
			c.g.metrics.received(len(f.Payload))
			if !c.allow(now) {
				if c.close(wsconn.CloseRateLimited, "rate limited", closeNow) {
					c.g.stats.rateLimited.Add(1)
				}
				continue
			}
			c.mu.Lock()
			if c.state == stateOpen && !c.fitsLinkLocked(len(f.Payload)) {
				// Never accepted and then lost: the client learns it.
				c.mu.Unlock()
				if c.close(wsconn.CloseTooBig, "message too big for the link", closeReply) {
					c.g.stats.tooBigForLink.Add(1)
				}
				continue
			}
			if c.state == stateOpen {
				ev := &pb.Event{Kind: &pb.Event_Message{Message: &pb.Message{Data: f.Payload, Binary: f.Binary}}}
				c.g.emitLocked(c, ev, len(f.Payload))
			}
			c.mu.Unlock()
		case wsconn.KindPing:
			c.sendControl(wsconn.AppendPong(nil, f.Payload))
		case wsconn.KindClose:
			c.peerClosed(f.CloseCode, f.CloseReason)
			return readDone
		}
		if br.Buffered() == 0 && !c.rd.Fragmenting() {
			if c.readState() == statePaused {
				return readPaused
			}
			return readMore
		}
		// Bytes still buffered: the loop goes on with them (a paused
		// client keeps them, at its top).
	}
}

func (c *conn) isClosed() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.state == stateClosed
}

// statePaused is what readState reports for an open or closing client
// whose reading is paused.
const statePaused connState = 255

// readState returns c's state, or statePaused if it is not closed and
// paused.
func (c *conn) readState() connState {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.pausedLocked() && !c.peerGone && c.state != stateClosed {
		return statePaused
	}
	return c.state
}

// pausedLocked reports whether c is not to be read now: paused by flow
// control, or its Connect not acked yet. The caller holds c.mu.
func (c *conn) pausedLocked() bool { return c.paused || c.awaitConnect }

// connectAcked lets c be read once its Connect event was acked (and the
// commands the worker sent before the ack applied). Called with no lock
// held.
func (c *conn) connectAcked() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.awaitConnect {
		return
	}
	c.awaitConnect = false
	c.readAgainLocked()
}

// resume lets a paused client be read again: the link its events wait on
// has room, or a worker linked. Called with no lock held.
func (c *conn) resume() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.paused {
		return
	}
	c.paused = false
	c.readAgainLocked()
}

// readAgainLocked starts reading c again after a pause ended, unless it is
// still paused for another reason. The caller holds c.mu.
func (c *conn) readAgainLocked() {
	// Not reading while paused is not silence.
	c.lastSeen.Store(time.Now().UnixNano())
	if c.state == stateClosed || c.pausedLocked() {
		return
	}
	if c.nc != nil {
		if c.rwait {
			c.wakeLocked(false) // readLoop waits in waitResume
		}
		return
	}
	// A read run that ended paused left the poller unarmed for input: a
	// run starts at once (it reads the bytes carried, or re-arms the
	// poller if there are none). A run still under way sees paused cleared
	// in endRead.
	if c.readOff && c.state == stateOpen {
		c.readOff = false
		c.scheduleReadLocked()
	}
}

// scheduleReadLocked starts a read run of a bare-socket client on the
// pool (it never blocks). The caller holds c.mu.
func (c *conn) scheduleReadLocked() {
	c.g.pool.ScheduleTask((*readTask)(c))
}

// waitResume blocks the reader goroutine of a paused net.Conn client until
// it is resumed; false if the client closed meanwhile.
func (c *conn) waitResume() bool {
	c.mu.Lock()
	for c.pausedLocked() && !c.peerGone && c.state != stateClosed {
		if c.wake == nil {
			c.wake = &fdWake{r: make(chan struct{}, 1), w: make(chan struct{}, 1)}
		}
		c.rwait = true
		ch := c.wake.r
		c.mu.Unlock()
		<-ch
		c.mu.Lock()
	}
	closed := c.state == stateClosed
	c.mu.Unlock()
	return !closed
}

// allow takes a token from the rate limit bucket.
func (c *conn) allow(now int64) bool {
	rate := c.g.cfg.MessageRate
	if rate <= 0 {
		return true
	}
	burst := float64(c.g.cfg.MessageBurst)
	c.tokens = min(burst, c.tokens+rate*float64(now-c.tokensAt)/float64(time.Second))
	c.tokensAt = now
	if c.tokens < 1 {
		return false
	}
	c.tokens--
	return true
}

// readFailed handles a read error: a protocol violation gets a close frame
// with its code, a slow frame 1008, anything else (EOF) ends the client.
func (c *conn) readFailed(err error) {
	var ce *wsconn.CloseError
	var ne net.Error
	switch {
	case errors.As(err, &ce):
		if c.close(ce.Code, ce.Reason, closeReply) {
			c.g.stats.protocolErrors.Add(1)
		}
	case errors.As(err, &ne) && ne.Timeout():
		if c.close(wsconn.ClosePolicyViolation, "frame timeout", closeReply) {
			c.g.stats.frameTimeouts.Add(1)
		}
	default:
		c.finish(codeAbnormal, "")
	}
}

// peerClosed answers the client's close frame by echoing its code.
func (c *conn) peerClosed(code uint16, reason string) {
	c.mu.Lock()
	if c.state != stateOpen {
		// We sent our close first; this is the answer.
		c.mu.Unlock()
		c.finish(code, reason)
		return
	}
	frame := wsconn.AppendClose(nil, code, "")
	start := c.beginCloseLocked(code, reason, closeReply, nil, frame)
	c.mu.Unlock()
	if start {
		c.startFlusher(nil)
	}
}

// close starts a server-side close with code and reason. It reports false
// if the client was already closing.
func (c *conn) close(code uint16, reason string, mode closeMode) bool {
	return c.closeWith(code, reason, mode, nil)
}

// closeWith is close with an optional last frame sent before the close
// frame.
func (c *conn) closeWith(code uint16, reason string, mode closeMode, last []byte) bool {
	frame := wsconn.AppendClose(nil, code, reason)
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return false
	}
	start := c.beginCloseLocked(code, reason, mode, last, frame)
	c.mu.Unlock()
	if start {
		c.startFlusher(nil)
	}
	return true
}

// beginCloseLocked moves an open client to closing and queues the close
// frame (beyond the budget). It reports whether a flusher must be started.
func (c *conn) beginCloseLocked(code uint16, reason string, mode closeMode, last, frame []byte) bool {
	c.state = stateClosing
	c.closeCode, c.closeReason = code, reason
	if mode == closeDrain {
		c.lingerCh = make(chan struct{})
	}
	if mode == closeNow {
		c.q.Reset()
		if c.inflight > 0 {
			// A write of the dropped frames is under way: bound it too.
			if c.nc != nil {
				_ = c.nc.SetWriteDeadline(time.Now().Add(closeLinger))
			} else if c.wwait {
				c.wakeLocked(true) // the flusher shortens its deadline
			}
		}
	}
	if last != nil {
		c.q.Push(last)
	}
	c.q.Push(frame)
	return c.kickLocked()
}

// finish closes the socket and removes the client; code and reason are
// reported in the Close event unless a close was already under way. It is
// idempotent and must be called without locks held.
func (c *conn) finish(code uint16, reason string) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	if c.state == stateOpen {
		c.closeCode, c.closeReason = code, reason
	}
	c.state = stateClosed
	c.q.Reset()
	if c.lingerCh != nil {
		close(c.lingerCh)
		c.lingerCh = nil
	}
	if c.connectSent {
		ev := &pb.Event{Kind: &pb.Event_Close{Close: &pb.Close{Code: uint32(c.closeCode), Reason: c.closeReason}}}
		c.g.emitLocked(c, ev, len(c.closeReason))
	}
	// Waiters wake up and find the socket closed.
	if c.rwait {
		c.wakeLocked(false)
	}
	if c.wwait {
		c.wakeLocked(true)
	}
	desc := c.desc
	c.desc = nil
	c.mu.Unlock()

	// The registration goes first: the fd number may be reused once closed.
	if desc != nil {
		_ = c.g.poller.Remove(desc)
	}
	if c.nc != nil {
		_ = c.nc.Close()
	} else {
		c.closeFD()
	}
	c.g.releaseAddr(c) // before the hub: a client no longer counted holds no slot
	c.g.hub.remove(c)
	c.g.nconns.Add(-1)
	c.g.clientGone()
}
