package pushclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
)

const secret = "push-secret"

// ids is a worker handler that records the client id of every client by
// the name in its query string, and answers "whoami" with what the handler
// sees of the current client.
type ids struct {
	businessworker.BaseHandler
	mu sync.Mutex
	m  map[string]string
}

func (h *ids) OnConnect(_ context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	c, hs := e.Client, e.Handshake
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.m == nil {
		h.m = make(map[string]string)
	}
	h.m[hs.Query().Get("name")] = c.ID()
	return businessworker.ConnectReply{}, nil
}

func (h *ids) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, m := e.Client, e.Message
	if m.String() == "whoami" {
		_ = c.Send(ctx, businessworker.Text(fmt.Sprintf("%s %t %s %q %q", c.ID(), c.RemoteAddr() != "", c.Gateway(), c.UID(), c.Session()["k"])))
	}
}

func (h *ids) id(tb testing.TB, name string) string {
	tb.Helper()
	var id string
	testcluster.WaitFor(tb, "client "+name+" connected", func() bool {
		h.mu.Lock()
		defer h.mu.Unlock()
		id = h.m[name]
		return id != ""
	})
	return id
}

// wsClient is a browser stand-in.
type wsClient struct {
	tb   testing.TB
	name string
	id   string
	conn *websocket.Conn
}

func dialWS(tb testing.TB, h *ids, url, name string) *wsClient {
	tb.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url+"?name="+name, nil)
	if err != nil {
		tb.Fatalf("dial %s: %v", url, err)
	}
	resp.Body.Close()
	tb.Cleanup(func() { conn.Close() })
	return &wsClient{tb: tb, name: name, id: h.id(tb, name), conn: conn}
}

// next reads one message; binary ones are prefixed with "bin:".
func (c *wsClient) next() string {
	c.tb.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	typ, b, err := c.conn.ReadMessage()
	if err != nil {
		c.tb.Fatalf("%s: read: %v", c.name, err)
	}
	if typ == websocket.BinaryMessage {
		return "bin:" + string(b)
	}
	return string(b)
}

func (c *wsClient) expect(want ...string) {
	c.tb.Helper()
	for _, w := range want {
		if got := c.next(); got != w {
			c.tb.Fatalf("%s got %q, want %q", c.name, got, w)
		}
	}
}

// closed waits for the connection to end and returns the close code.
func (c *wsClient) closed() int {
	c.tb.Helper()
	_ = c.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, b, err := c.conn.ReadMessage()
	if err == nil {
		c.tb.Fatalf("%s: unexpected message %q before close", c.name, b)
	}
	var ce *websocket.CloseError
	if errors.As(err, &ce) {
		return ce.Code
	}
	return -1
}

// nothing checks that no message is waiting: a marker sent after the
// commands under test must be the next message.
func (c *wsClient) nothingBefore(p *Client, marker string) {
	c.tb.Helper()
	if err := p.SendToClient(context.Background(), c.id, businessworker.Text(marker)); err != nil {
		c.tb.Fatal(err)
	}
	c.expect(marker)
}

func sorted(s ...string) []string { return slices.Sorted(slices.Values(s)) }

// proxy forwards TCP to a gateway's LAN listener; frozen, it holds every
// byte back, so the gateway looks alive but never answers.
type proxy struct {
	lis    net.Listener
	target string
	mu     sync.Mutex
	frozen chan struct{} // non-nil while frozen; closed on thaw
	conns  []net.Conn
	done   bool
	wg     sync.WaitGroup
}

func newProxy(tb testing.TB, target string) *proxy {
	p := &proxy{lis: testcluster.Listen(tb), target: target}
	p.wg.Go(p.accept)
	tb.Cleanup(p.close)
	return p
}

func (p *proxy) addr() string { return p.lis.Addr().String() }

func (p *proxy) accept() {
	for {
		in, err := p.lis.Accept()
		if err != nil {
			return
		}
		out, err := net.Dial("tcp", p.target)
		if err != nil {
			in.Close()
			continue
		}
		p.mu.Lock()
		if p.done {
			p.mu.Unlock()
			in.Close()
			out.Close()
			return
		}
		p.conns = append(p.conns, in, out)
		p.mu.Unlock()
		p.wg.Go(func() { p.pipe(out, in) })
		p.wg.Go(func() { p.pipe(in, out) })
	}
}

func (p *proxy) pipe(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 {
			p.mu.Lock()
			gate := p.frozen
			p.mu.Unlock()
			if gate != nil {
				<-gate
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			dst.Close()
			return
		}
	}
}

func (p *proxy) freeze() {
	p.mu.Lock()
	if p.frozen == nil {
		p.frozen = make(chan struct{})
	}
	p.mu.Unlock()
}

func (p *proxy) thaw() {
	p.mu.Lock()
	if p.frozen != nil {
		close(p.frozen)
		p.frozen = nil
	}
	p.mu.Unlock()
}

// cut closes every forwarded connection (a network failure); new ones are
// still accepted.
func (p *proxy) cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}

func (p *proxy) close() {
	p.thaw()
	p.lis.Close()
	p.mu.Lock()
	p.done = true
	for _, c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	p.wg.Wait()
}
