package loadgen

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsutil"
)

// testServer is a tiny broadcast server on loopback: every data message any
// client sends goes to every client, one frame each, in either the plain
// workload protocol or a fake of centrifuge's JSON protocol.
type testServer struct {
	t          *testing.T
	ln         net.Listener
	centrifuge bool
	// delay holds each message before broadcasting it.
	delay time.Duration
	// hook may change the delivery of message n (counted from 0) to the
	// connection accepted k-th (from 0): drop it, or send it twice.
	hook func(n, k int) (drop, dup bool)
	// ignoreGroups broadcasts to every connection whatever its group.
	ignoreGroups bool

	mu    sync.Mutex
	conns map[*serverConn]struct{}
	msgs  int
	wg    sync.WaitGroup
}

type serverConn struct {
	nc    net.Conn
	k     int
	group string     // the ?group= of its URL, "" if none
	mu    sync.Mutex // serialises writes
}

func startTestServer(t *testing.T, configure func(*testServer)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, ln: ln, conns: map[*serverConn]struct{}{}}
	if configure != nil {
		configure(s)
	}
	s.wg.Go(s.accept)
	t.Cleanup(s.close)
	return s
}

func (s *testServer) url() string {
	if s.centrifuge {
		return "ws://" + s.ln.Addr().String() + "/connection/websocket"
	}
	return "ws://" + s.ln.Addr().String() + "/"
}

// waitConns polls until the server holds n connections: a client's
// handshake completes before the server adds it to its broadcast set, so a
// message sent at once could miss it.
func (s *testServer) waitConns(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.conns)
		s.mu.Unlock()
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("server holds %d connections, want %d", got, n)
		}
		time.Sleep(time.Millisecond)
	}
}

func (s *testServer) close() {
	_ = s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		_ = c.nc.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
}

func (s *testServer) accept() {
	for k := 0; ; k++ {
		nc, err := s.ln.Accept()
		if err != nil {
			return
		}
		var group string
		up := ws.Upgrader{OnRequest: func(uri []byte) error {
			if u, err := url.ParseRequestURI(string(uri)); err == nil {
				group = u.Query().Get(GroupParam)
			}
			return nil
		}}
		if _, err := up.Upgrade(nc); err != nil {
			_ = nc.Close()
			continue
		}
		c := &serverConn{nc: nc, k: k, group: group}
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Go(func() { s.serve(c) })
	}
}

func (s *testServer) serve(c *serverConn) {
	defer func() {
		s.mu.Lock()
		delete(s.conns, c)
		s.mu.Unlock()
		_ = c.nc.Close()
	}()
	for {
		data, op, err := wsutil.ReadClientData(c.nc)
		if err != nil {
			return
		}
		if op != ws.OpText {
			continue
		}
		if s.centrifuge {
			if err := s.centrifugeCommands(c, data); err != nil {
				return
			}
			continue
		}
		s.broadcast(c.group, data)
	}
}

// broadcast sends frame to every connection of group (all when group is
// "" or ignoreGroups).
func (s *testServer) broadcast(group string, frame []byte) {
	if s.delay > 0 {
		time.Sleep(s.delay)
	}
	s.mu.Lock()
	n := s.msgs
	s.msgs++
	targets := make([]*serverConn, 0, len(s.conns))
	for c := range s.conns {
		if s.ignoreGroups || c.group == group {
			targets = append(targets, c)
		}
	}
	s.mu.Unlock()
	for _, c := range targets {
		var drop, dup bool
		if s.hook != nil {
			drop, dup = s.hook(n, c.k)
		}
		if drop {
			continue
		}
		for range 1 + btoi(dup) {
			_ = c.write(frame)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

func (c *serverConn) write(p []byte) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return wsutil.WriteServerText(c.nc, p)
}

// centrifugeCommands answers connect and subscribe, pings once after
// subscribe, and turns publish commands into push publications.
func (s *testServer) centrifugeCommands(c *serverConn, data []byte) error {
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 || bytes.Equal(line, []byte("{}")) {
			continue // pong
		}
		var cmd struct {
			ID        uint64 `json:"id"`
			Connect   *struct{}
			Subscribe *struct{ Channel string }
			Publish   *struct {
				Channel string
				Data    json.RawMessage
			}
		}
		if err := json.Unmarshal(line, &cmd); err != nil {
			return err
		}
		switch {
		case cmd.Connect != nil:
			if err := c.write(fmt.Appendf(nil, `{"id":%d,"connect":{"client":"x","version":"0"}}`, cmd.ID)); err != nil {
				return err
			}
		case cmd.Subscribe != nil:
			// Reply and ping in one frame, as centrifuge may batch.
			if err := c.write(fmt.Appendf(nil, `{"id":%d,"subscribe":{}}`+"\n{}", cmd.ID)); err != nil {
				return err
			}
		case cmd.Publish != nil:
			if err := c.write(fmt.Appendf(nil, `{"id":%d,"publish":{}}`, cmd.ID)); err != nil {
				return err
			}
			s.broadcast(c.group, fmt.Appendf(nil, `{"push":{"channel":%q,"pub":{"data":%s,"offset":1}}}`, cmd.Publish.Channel, cmd.Publish.Data))
		default:
			return errors.New("unknown command " + strings.TrimSpace(string(line)))
		}
	}
	return nil
}
