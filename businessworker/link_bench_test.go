package businessworker

import (
	"context"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// countingHandler counts the messages handled and when the last one was.
type countingHandler struct {
	BaseHandler
	n    atomic.Int64
	last atomic.Int64 // unix nanos
}

func (h *countingHandler) OnMessage(context.Context, MessageEvent) {
	h.n.Add(1)
	h.last.Store(time.Now().UnixNano())
}

// BenchmarkEventsThroughLink measures client messages per second through
// one gateway-to-worker link, end to end: 16 WebSocket clients write 64-byte
// messages as fast as they can, the gateway turns them into events, the
// worker runs a no-op handler and acknowledges them. It is written against
// the public API only, so that the same file runs against older versions
// (the cumulative-ack link) for a side-by-side ratio; as older versions
// dropped events under load, it reports the events lost (lost/op) and the
// rate of those handled instead of failing.
func BenchmarkEventsThroughLink(b *testing.B) {
	const clients = 16
	listen := func() net.Listener {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			b.Fatal(err)
		}
		return l
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	reg, err := register.New(register.Config{})
	if err != nil {
		b.Fatal(err)
	}
	rl := listen()
	wg.Go(func() { _ = reg.Serve(ctx, rl) })
	gw, err := gateway.New(gateway.Config{Registers: []string{rl.Addr().String()}, DrainTimeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	pub, lan := listen(), listen()
	wg.Go(func() { _ = gw.Serve(ctx, pub, lan) })
	h := &countingHandler{}
	w, err := New(Config{Registers: []string{rl.Addr().String()}, Handler: h})
	if err != nil {
		b.Fatal(err)
	}
	wg.Go(func() { _ = w.Run(ctx) })
	for deadline := time.Now().Add(10 * time.Second); gw.Stats().Workers != 1; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			b.Fatal("worker not linked")
		}
	}
	conns := make([]*websocket.Conn, clients)
	for i := range conns {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+pub.Addr().String()+"/", nil)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		conns[i] = c
	}
	msg := make([]byte, 64)
	b.ReportAllocs()
	b.ResetTimer()
	h.n.Store(0)
	start := time.Now()
	var senders sync.WaitGroup
	for i, c := range conns {
		n := b.N / clients
		if i < b.N%clients {
			n++
		}
		senders.Go(func() {
			for range n {
				if err := c.WriteMessage(websocket.BinaryMessage, msg); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	senders.Wait()
	// Every message handled, or no progress for a second (lost).
	for seen, at := int64(-1), time.Now(); h.n.Load() < int64(b.N); time.Sleep(time.Millisecond) {
		if n := h.n.Load(); n != seen {
			seen, at = n, time.Now()
		} else if time.Since(at) > time.Second {
			break
		}
	}
	b.StopTimer()
	handled := h.n.Load()
	took := time.Duration(h.last.Load() - start.UnixNano())
	b.ReportMetric(float64(handled)/took.Seconds(), "events/s")
	b.ReportMetric(float64(int64(b.N)-handled)/float64(b.N), "lost/op")
}
