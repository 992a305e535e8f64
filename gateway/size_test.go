package gateway

import (
	"context"
	"net"
	"runtime"
	"testing"
	"unsafe"

	"github.com/gobwas/ws"

	"github.com/gatewayworker/gatewayworker/internal/gopool"
)

// The per-client struct is part of the idle-connection memory budget
// (2 KiB of RSS including the socket, poller registration and map entry).
// 320 bytes is a malloc size class: one field more costs 32 bytes a client.
func TestConnSize(t *testing.T) {
	const budget = 336 // 328 before the bytes carried across a pause (flow control)
	if n := unsafe.Sizeof(conn{}); n > budget {
		t.Fatalf("conn is %d bytes, budget %d", n, budget)
	} else {
		t.Logf("conn is %d bytes", n)
	}
}

// TestIdleClientHeap measures the heap held per idle client: server side
// (conn, socket, poller registration, hub entry) plus the test's own raw
// client socket. An idle client holds no goroutine and no buffer.
func TestIdleClientHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 1000 sockets")
	}
	const n = 1000
	tg := startGateway(t, Config{})
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	before := heap()
	goroutines := runtime.NumGoroutine()
	clients := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range clients {
			_ = c.Close()
		}
	}()
	for range n {
		c, _, _, err := ws.Dial(context.Background(), "ws://"+tg.public+"/")
		if err != nil {
			t.Fatal(err)
		}
		clients = append(clients, c)
	}
	eventually(t, "clients attached", func() bool { return tg.Stats().Clients == n })
	// Let the pool's readers and the handshake goroutines finish.
	eventually(t, "handshake goroutines gone", func() bool { return runtime.NumGoroutine() <= goroutines+gopool.DefaultSize })
	per := (int64(heap()) - int64(before)) / n
	t.Logf("heap per idle client (server and client side): %d bytes; goroutines: %d -> %d", per, goroutines, runtime.NumGoroutine())
	if per > 3<<10 {
		t.Fatalf("idle client holds %d bytes of heap", per)
	}
	if extra := runtime.NumGoroutine() - goroutines; extra > gopool.DefaultSize+8 {
		t.Fatalf("%d goroutines for %d idle clients", extra, n)
	}
}
