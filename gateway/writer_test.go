package gateway

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/gobwas/ws"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// broadcast returns a send-to-all command.
func broadcast(data []byte) *pb.Command {
	return &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: data}}}
}

// Many broadcasts in a burst reach every client complete and in order, one
// WebSocket message each, although the writer shards put several frames
// into one write.
func TestBurstOneFramePerMessageInOrder(t *testing.T) {
	tg := startGateway(t, Config{})
	push := dialLink(t, tg.lan, "", "push", false)
	const clients, msgs = 4, 500
	conns := make([]*wsClient, clients)
	for i := range conns {
		conns[i] = newWSClient(t, tg.public)
	}
	eventually(t, "clients attached", func() bool { return tg.Stats().Clients == clients })
	cmds := make([]*pb.Command, 0, 50)
	for i := range msgs {
		cmds = append(cmds, broadcast([]byte(strconv.Itoa(i))))
		if len(cmds) == cap(cmds) {
			push.commands(cmds...)
			cmds = cmds[:0]
		}
	}
	for _, c := range conns {
		for i := range msgs {
			got := c.next(t)
			if got.payload != strconv.Itoa(i) {
				t.Fatalf("message %d is %q", i, got.payload)
			}
		}
	}
}

// A client that stops reading fills its socket; its writer then waits for
// it on a goroutine of its own, so the others' latency does not change.
func TestStuckClientDoesNotDelayOthers(t *testing.T) {
	// A large budget and timeout keep the stuck client stuck (not closed)
	// for the whole measurement.
	tg := startGateway(t, Config{MaxPending: 256 << 20, WriteTimeout: time.Minute})
	push := dialLink(t, tg.lan, "", "push", false)
	const fast = 8
	conns := make([]*wsClient, fast)
	for i := range conns {
		conns[i] = newWSClient(t, tg.public)
	}
	eventually(t, "clients attached", func() bool { return tg.Stats().Clients == fast })
	payload := make([]byte, 32<<10)
	// latencies broadcasts n messages one at a time and returns the p99 of
	// the time until every fast client has each.
	latencies := func(n int) time.Duration {
		lat := make([]time.Duration, 0, n)
		for i := range n {
			copy(payload, strconv.Itoa(i)+":")
			start := time.Now()
			push.commands(broadcast(payload))
			for _, c := range conns {
				c.next(t)
			}
			lat = append(lat, time.Since(start))
		}
		return quantile(lat, 0.99)
	}
	latencies(20) // warm up
	alone := latencies(200)

	stuck, err := net.Dial("tcp", tg.public)
	if err != nil {
		t.Fatal(err)
	}
	defer stuck.Close()
	_ = stuck.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, _, err := ws.DefaultDialer.Upgrade(stuck, &urlLocal); err != nil {
		t.Fatal(err)
	}
	eventually(t, "stuck client attached", func() bool { return tg.Stats().Clients == fast+1 })
	withStuck := latencies(200) // 6.4 MiB: far more than its socket holds
	t.Logf("fast clients' p99: %v alone, %v with a stuck client", alone, withStuck)
	pending := 0
	tg.hub.forEach(func(c *conn) {
		c.mu.Lock()
		pending += c.q.Bytes() + int(c.inflight)
		c.mu.Unlock()
	})
	if pending == 0 {
		t.Fatal("the stuck client's socket never filled: nothing waits to be written")
	}
	if st := tg.Stats(); st.Clients != fast+1 || st.SlowConsumer != 0 {
		t.Fatalf("the stuck client was closed: %+v", st)
	}
	// A stuck client that held the others up would cost them a write
	// timeout (seconds); 100 ms absorbs a loaded machine's scheduling noise.
	if limit := 3*alone + 100*time.Millisecond; withStuck > limit {
		t.Fatalf("p99 %v with a stuck client, %v alone (limit %v)", withStuck, alone, limit)
	}
}

// wsClient reads messages on its own goroutine.
type wsClient struct {
	msgs chan wsMsg
}

type wsMsg struct {
	payload string
	err     error
}

func newWSClient(t *testing.T, addr string) *wsClient {
	t.Helper()
	c := dialWS(t, addr, "/", nil)
	wc := &wsClient{msgs: make(chan wsMsg, 1024)}
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		defer close(wc.msgs)
		for {
			_, data, err := c.ReadMessage()
			if err != nil {
				wc.msgs <- wsMsg{err: err}
				return
			}
			// Keep the prefix up to ':' (the test's sequence number).
			s := string(data)
			for i := range len(s) {
				if s[i] == ':' {
					s = s[:i]
					break
				}
			}
			wc.msgs <- wsMsg{payload: s}
		}
	}()
	t.Cleanup(func() { _ = c.Close(); wg.Wait() })
	return wc
}

// next returns the client's next message, failing the test after waitFor.
func (c *wsClient) next(t *testing.T) wsMsg {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	select {
	case m, ok := <-c.msgs:
		if !ok || m.err != nil {
			t.Fatalf("client: %v", fmt.Sprint(m.err))
		}
		return m
	case <-ctx.Done():
		t.Fatal("no message in time")
	}
	return wsMsg{}
}
