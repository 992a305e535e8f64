//go:build linux

package multihost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"
)

// driverWriteTimeout bounds one WebSocket write of the driver.
const driverWriteTimeout = 2 * time.Second

// driver is the client side of the scenario, running on the clients' host.
// It owns one reader and one writer goroutine per client and one goroutine
// per pending dial or wait; all stop when stdin ends.
type driver struct {
	outMu sync.Mutex
	out   *json.Encoder

	ctx    context.Context // cancelled when stdin ends
	wg     sync.WaitGroup
	mu     sync.Mutex
	conns  map[string]*driverConn
	closed bool
}

// driverConn is one WebSocket client of the driver.
type driverConn struct {
	ws *websocket.Conn

	mu      sync.Mutex
	sendQ   chan string // closed by stop, which ends the writer
	stopped bool
}

// runDriver serves ops from stdin until it ends, then closes every client
// and returns the exit code.
func runDriver(stdin io.Reader, stdout io.Writer) int {
	ctx, cancel := context.WithCancel(context.Background())
	d := &driver{out: json.NewEncoder(stdout), ctx: ctx, conns: map[string]*driverConn{}}
	sc := bufio.NewScanner(stdin)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var o op
		if err := json.Unmarshal(sc.Bytes(), &o); err != nil {
			d.emit(event{Ev: evError, Err: fmt.Sprintf("bad op %q: %v", sc.Text(), err)})
			continue
		}
		d.handle(o)
	}
	cancel()
	d.mu.Lock()
	d.closed = true
	for _, c := range d.conns {
		c.stop()
	}
	d.mu.Unlock()
	d.wg.Wait()
	return 0
}

func (d *driver) emit(e event) {
	if e.At == 0 {
		e.At = time.Now().UnixNano()
	}
	d.outMu.Lock()
	defer d.outMu.Unlock()
	_ = d.out.Encode(e) // stdout gone: the test has ended
}

func (d *driver) reply(o op, err error) {
	if o.Req == 0 && err == nil {
		return
	}
	e := event{Ev: evReply, Req: o.Req, ID: o.ID}
	if o.Req == 0 {
		e.Ev = evError
	}
	if err != nil {
		e.Err = err.Error()
	}
	d.emit(e)
}

func (d *driver) handle(o op) {
	timeout := time.Duration(o.TimeoutMS) * time.Millisecond
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	switch o.Op {
	case opDial:
		d.wg.Go(func() { d.reply(o, d.dial(o.ID, o.URL, timeout)) })
	case opWaitTCP:
		d.wg.Go(func() { d.reply(o, d.waitTCP(o.Addr, timeout)) })
	case opSend:
		d.mu.Lock()
		c := d.conns[o.ID]
		d.mu.Unlock()
		if c == nil {
			d.reply(o, fmt.Errorf("send: no client %q", o.ID))
			return
		}
		if err := c.enqueue(o.Text); err != nil {
			d.reply(o, fmt.Errorf("send: client %q: %w", o.ID, err))
		}
	case opClose:
		d.mu.Lock()
		c := d.conns[o.ID]
		delete(d.conns, o.ID)
		d.mu.Unlock()
		if c != nil {
			c.stop()
		}
		d.reply(o, nil)
	default:
		d.reply(o, fmt.Errorf("unknown op %q", o.Op))
	}
}

func (d *driver) dial(id, url string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(d.ctx, timeout)
	defer cancel()
	dialer := websocket.Dialer{HandshakeTimeout: timeout}
	ws, _, err := dialer.DialContext(ctx, url, nil)
	if err != nil {
		return err
	}
	c := &driverConn{ws: ws, sendQ: make(chan string, 4096)}
	d.mu.Lock()
	if d.closed || d.conns[id] != nil {
		d.mu.Unlock()
		ws.Close()
		return fmt.Errorf("dial: client %q exists or driver closing", id)
	}
	d.conns[id] = c
	d.mu.Unlock()
	d.wg.Go(func() { d.read(id, c) })
	d.wg.Go(func() { d.write(id, c) })
	return nil
}

func (d *driver) read(id string, c *driverConn) {
	for {
		_, data, err := c.ws.ReadMessage()
		if err != nil {
			e := event{Ev: evClosed, ID: id, Err: err.Error()}
			var ce *websocket.CloseError
			if errors.As(err, &ce) {
				e.Code = ce.Code
			}
			d.emit(e)
			c.stop()
			return
		}
		d.emit(event{Ev: evMsg, ID: id, Text: string(data)})
	}
}

func (d *driver) write(id string, c *driverConn) {
	for text := range c.sendQ {
		c.ws.SetWriteDeadline(time.Now().Add(driverWriteTimeout))
		if err := c.ws.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
			d.emit(event{Ev: evError, ID: id, Err: "send: " + err.Error()})
		}
	}
	c.ws.SetWriteDeadline(time.Now().Add(driverWriteTimeout))
	_ = c.ws.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	c.ws.Close()
}

// stop ends the client: the writer sends a close frame and closes the
// socket, which ends the reader. It may be called more than once.
func (c *driverConn) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.stopped {
		c.stopped = true
		close(c.sendQ)
	}
}

// enqueue hands text to the writer without blocking.
func (c *driverConn) enqueue(text string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.stopped {
		return errors.New("closed")
	}
	select {
	case c.sendQ <- text:
		return nil
	default:
		return errors.New("queue full")
	}
}

func (d *driver) waitTCP(addr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("wait_tcp %s: %w", addr, err)
		}
		select {
		case <-d.ctx.Done():
			return d.ctx.Err()
		case <-time.After(50 * time.Millisecond):
		}
	}
}
