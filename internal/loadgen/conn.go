package loadgen

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gobwas/ws"
)

// noSender marks a connection that only receives.
const noSender = -1

// client is one WebSocket connection of a Worker. Its read loop is the only
// goroutine touching fr, next and the recorder's counts; writes (messages from
// the sender loop, pongs from the read loop) are serialised by wmu.
type client struct {
	w      *Worker
	nc     net.Conn
	fr     *frameReader
	sender int // run-wide sender id, or noSender
	scope  int // see layout.go
	gone   atomic.Bool

	wmu  sync.Mutex
	wbuf []byte // frame being written (under wmu)
	body []byte // payload or centrifuge command being built (under wmu)
	mask [4]byte
	cmds uint64 // centrifuge command id (under wmu)

	next    []uint32          // per sender: next expected sequence (read loop only)
	nextMap map[uint32]uint32 // instead of next when there are many senders
	rec     atomic.Pointer[Recorder]
	echo    chan uint32 // closed loop: sequences of this sender's own messages

	received  atomic.Uint64 // every workload message read
	delivered atomic.Uint64 // unique messages sent inside the measured window
	dups      atomic.Uint64
	gaps      atomic.Uint64
	bad       atomic.Uint64 // unparsable messages and server error replies

	pad []byte // PadJSON padding (senders only)
}

// dial opens the connection to target from source address src and runs the
// protocol handshake; the read loop is not started.
func dial(ctx context.Context, w *Worker, target string, src net.IP, sender, scope int) (*client, error) {
	d := ws.Dialer{
		Timeout: w.cfg.DialTimeout,
		NetDial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nd := net.Dialer{LocalAddr: &net.TCPAddr{IP: src}}
			return nd.DialContext(ctx, network, addr)
		},
	}
	ctx, cancel := context.WithTimeout(ctx, w.cfg.DialTimeout)
	defer cancel()
	if w.cfg.Compression {
		d.Extensions = deflateOffer()
	}
	nc, br, hs, err := d.Dial(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("loadgen: dial %s from %s: %w", target, src, err)
	}
	if w.cfg.Compression && !deflateAccepted(hs.Extensions) {
		_ = nc.Close()
		return nil, fmt.Errorf("loadgen: %s did not accept permessage-deflate", w.cfg.URL)
	}
	if br == nil {
		br = bufio.NewReaderSize(nc, w.cfg.ReadBufferSize)
	}
	c := &client{
		w:      w,
		nc:     nc,
		fr:     newFrameReader(br, w.cfg.MaxMessageSize),
		sender: sender,
		scope:  scope,
		wbuf:   make([]byte, 0, w.cfg.Size+160),
		body:   make([]byte, 0, w.cfg.Size+96),
	}
	c.fr.deflate = w.cfg.Compression
	rnd := rand.Uint32()
	c.mask = [4]byte{byte(rnd), byte(rnd >> 8), byte(rnd >> 16), byte(rnd >> 24)}
	if sender != noSender {
		c.echo = make(chan uint32, 1)
	}
	if w.cfg.Proto == ProtoCentrifuge {
		if err := centrifugeHandshake(c, w.cfg.Channel, w.cfg.DialTimeout); err != nil {
			_ = nc.Close()
			return nil, err
		}
	}
	return c, nil
}

// writeFrame writes one frame with payload p. It is safe for concurrent use.
func (c *client) writeFrame(op byte, p []byte) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	return c.writeFrameLocked(op, p)
}

func (c *client) writeFrameLocked(op byte, p []byte) error {
	c.wbuf = appendClientFrame(c.wbuf[:0], op, p, c.mask)
	_, err := c.nc.Write(c.wbuf)
	return err
}

// send writes workload message m in the connection's protocol.
func (c *client) send(m Message) error {
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.w.cfg.Proto == ProtoCentrifuge {
		c.cmds++
		c.body = appendCentrifugePublish(c.body[:0], c.cmds, c.w.cfg.Channel, m, c.w.cfg.Size)
	} else if c.w.cfg.PadJSON {
		if c.pad == nil {
			c.pad = jsonPadding(c.w.cfg.Size - PayloadSize)
		}
		c.body = append(AppendPayload(c.body[:0], m, PayloadSize), c.pad...)
	} else {
		c.body = AppendPayload(c.body[:0], m, c.w.cfg.Size)
	}
	return c.writeFrameLocked(opText, c.body)
}

// readLoop reads until the connection fails or is closed.
func (c *client) readLoop() {
	for {
		op, p, err := c.fr.next()
		if err != nil {
			c.w.lost(c, err)
			return
		}
		switch op {
		case opPing:
			if err := c.writeFrame(opPong, p); err != nil {
				c.w.lost(c, err)
				return
			}
		case opPong:
		case opClose:
			c.w.lost(c, io.EOF)
			return
		default:
			if c.w.cfg.Proto == ProtoCentrifuge {
				err = c.handleCentrifuge(p)
			} else {
				c.deliver(p)
			}
			if err != nil {
				c.w.lost(c, err)
				return
			}
		}
	}
}

// deliver accounts one workload message body.
func (c *client) deliver(p []byte) {
	m, err := ParsePayload(p)
	if err != nil || int(m.Sender) >= c.w.cfg.TotalSenders {
		c.bad.Add(1)
		return
	}
	now := c.w.clock.Now()
	c.received.Add(1)
	want := c.expectedSeq(m.Sender)
	if m.Seq < want {
		c.dups.Add(1)
		return
	}
	if m.Seq > want {
		c.gaps.Add(uint64(m.Seq - want))
	}
	c.setExpectedSeq(m.Sender, m.Seq+1)
	if m.Sent >= c.w.measureStart.Load() && m.Sent < c.w.measureEnd.Load() {
		c.delivered.Add(1)
		rec := c.rec.Load()
		if rec == nil {
			rec = new(Recorder)
			c.rec.Store(rec)
		}
		rec.Record(now - m.Sent)
	}
	if c.echo != nil && int(m.Sender) == c.sender {
		select {
		case c.echo <- m.Seq:
		default:
		}
	}
}

// maxSeqSlice is the largest number of senders tracked with a slice per
// connection; past it a map holds only the senders a connection hears (with
// groups, one), to keep 1,000 senders x 95,000 connections affordable.
const maxSeqSlice = 256

// expectedSeq returns the next sequence expected from sender.
func (c *client) expectedSeq(sender uint32) uint32 {
	if c.w.cfg.TotalSenders > maxSeqSlice {
		return c.nextMap[sender]
	}
	if c.next == nil {
		return 0
	}
	return c.next[sender]
}

func (c *client) setExpectedSeq(sender, seq uint32) {
	if c.w.cfg.TotalSenders > maxSeqSlice {
		if c.nextMap == nil {
			c.nextMap = make(map[uint32]uint32, 1)
		}
		c.nextMap[sender] = seq
		return
	}
	if c.next == nil {
		c.next = make([]uint32, c.w.cfg.TotalSenders)
	}
	c.next[sender] = seq
}

// close closes the socket; the read loop then ends.
func (c *client) close() error {
	err := c.nc.Close()
	if errors.Is(err, net.ErrClosed) {
		return nil
	}
	return err
}

// setReadDeadline bounds a handshake read; zero t clears it.
func (c *client) setReadDeadline(d time.Duration) error {
	if d == 0 {
		return c.nc.SetReadDeadline(time.Time{})
	}
	return c.nc.SetReadDeadline(time.Now().Add(d))
}
