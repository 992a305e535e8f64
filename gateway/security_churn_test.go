package gateway

import (
	"net"
	"net/url"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gobwas/ws"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Leaks and floods: churn leaves nothing behind; one client's ping flood
// neither grows memory without bound nor slows the others.

// TestChurnLeavesNothingBehind runs 10,000 connect/close cycles (1,000 with
// -short) of every kind: clean closes, drops without a close frame, resets
// (SO_LINGER 0) in the middle of a frame or of the upgrade request. Then
// goroutines, file descriptors and heap are back at their baseline.
func TestChurnLeavesNothingBehind(t *testing.T) {
	cycles := 10000
	if testing.Short() {
		cycles = 1000
	}
	const parallel = 8
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	stopDrain := make(chan struct{})
	drained := make(chan struct{})
	go func() { // the worker side: discard the events, ack each (a client is read once its connect is acked)
		defer close(drained)
		for {
			select {
			case <-stopDrain:
				return
			case ev := <-w.events:
				w.sendMu.Lock()
				_ = w.stream.Send(&pb.LinkRequest{Acks: []*pb.AckRange{{First: ev.GetSeq(), Last: ev.GetSeq()}}})
				w.sendMu.Unlock()
			}
		}
	}()
	defer func() { close(stopDrain); <-drained }()

	// A few warm-up cycles, so pools and buffers exist in the baseline.
	for i := range 2 * parallel {
		if err := churnOnce(tg.public, i); err != nil {
			t.Fatal(err)
		}
	}
	eventually(t, "warm-up clients gone", func() bool { return tg.Stats().Clients == 0 })
	baseGoroutines := settledGoroutines()
	baseFDs := openFDs(t)
	baseHeap := heapInUse()

	start := time.Now()
	var next atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, parallel)
	for range parallel {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > cycles {
					return
				}
				if err := churnOnce(tg.public, i); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	eventually(t, "every client gone", func() bool { return tg.Stats().Clients == 0 && tg.nconns.Load() == 0 })
	t.Logf("%d cycles in %v", cycles, time.Since(start))

	deadline := time.Now().Add(waitFor)
	for {
		g, fds, heap := settledGoroutines(), openFDs(t), heapInUse()
		grown := int64(heap) - int64(baseHeap)
		ok := g <= baseGoroutines+2 && fds <= baseFDs && grown < 2<<20
		if ok || time.Now().After(deadline) {
			t.Logf("goroutines %d -> %d, fds %d -> %d, heap %d -> %d", baseGoroutines, g, baseFDs, fds, baseHeap, heap)
			if !ok {
				buf := make([]byte, 1<<20)
				t.Fatalf("churn left goroutines, fds or heap behind\n%s", buf[:runtime.Stack(buf, true)])
			}
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	if st := tg.Stats(); st.Accepted+st.Rejected < uint64(cycles) {
		t.Fatalf("stats = %+v", st)
	}
}

// settledGoroutines counts goroutines, ignoring the pool's idle workers
// (started once, kept until shutdown).
func settledGoroutines() int {
	n := runtime.NumGoroutine()
	buf := make([]byte, 4<<20)
	stacks := string(buf[:runtime.Stack(buf, true)])
	return n - strings.Count(stacks, "gopool.(*Pool).worker")
}

// churnOnce runs one client life of kind i%5.
func churnOnce(addr string, i int) error {
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		return err
	}
	tc := nc.(*net.TCPConn)
	_ = nc.SetDeadline(time.Now().Add(waitFor))
	reset := func() error {
		_ = tc.SetLinger(0) // close sends RST
		return nc.Close()
	}
	if i%5 == 4 {
		// Reset in the middle of the upgrade request.
		req := upgradeRequest("/")
		if _, err := nc.Write([]byte(req[:len(req)/2])); err != nil {
			return err
		}
		return reset()
	}
	if _, _, err := ws.DefaultDialer.Upgrade(nc, &urlLocal); err != nil {
		_ = nc.Close()
		return err
	}
	msg := maskedFrame(rawText, "churn")
	switch i % 5 {
	case 0: // a message and a clean close handshake
		_, _ = nc.Write(append(msg, maskedFrame(rawClose, closeBody(1000, ""))...))
		var b [64]byte
		for {
			if _, err := nc.Read(b[:]); err != nil {
				break
			}
		}
		return nc.Close()
	case 1: // drops without a close frame
		_, _ = nc.Write(msg)
		return nc.Close()
	case 2: // resets in the middle of a frame
		big := rawFrame(true, 0, rawBinary, true, make([]byte, 64<<10))
		_, _ = nc.Write(big[:len(big)/3])
		return reset()
	default: // resets right after the upgrade
		return reset()
	}
}

// urlLocal is the URL of the upgrade requests of the raw clients.
var urlLocal = url.URL{Scheme: "ws", Host: "127.0.0.1", Path: "/"}

// floodSetup starts a gateway with cfg, a push link and a reading client;
// latency(n) broadcasts n messages one at a time and returns the median
// time each took to reach that client.
func floodSetup(t *testing.T, cfg Config) (*testGateway, func(n int) time.Duration) {
	t.Helper()
	tg := startGateway(t, cfg)
	ackingWorker(t, tg)
	push := dialLink(t, tg.lan, "", "push", false)
	fast := dialWS(t, tg.public, "/", nil)
	eventually(t, "client attached", func() bool { return tg.Stats().Clients == 1 })
	latency := func(n int) time.Duration {
		var lat []time.Duration
		for range n {
			start := time.Now()
			push.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: []byte("tick")}}})
			if _, got := readMsg(t, fast); got != "tick" {
				t.Fatalf("fast client got %q", got)
			}
			lat = append(lat, time.Since(start))
		}
		return quantile(lat, 0.5)
	}
	latency(20)
	return tg, latency
}

// pingBatch is 64 pings of 125 bytes.
func pingBatch() []byte {
	var batch []byte
	ping := maskedFrame(rawPing, string(make([]byte, 125)))
	for range 64 {
		batch = append(batch, ping...)
	}
	return batch
}

// dialFlooder upgrades a raw client, with a small receive buffer if it is
// not going to read.
func dialFlooder(t *testing.T, addr string, reads bool) net.Conn {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	if !reads {
		_ = nc.(*net.TCPConn).SetReadBuffer(4 << 10)
	}
	if _, _, err := ws.DefaultDialer.Upgrade(nc, &urlLocal); err != nil {
		t.Fatal(err)
	}
	return nc
}

// heapSampler records the peak of the live heap until stop is closed.
func heapSampler(stop <-chan struct{}) (peak func() uint64) {
	var max_ atomic.Uint64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			if ms.HeapAlloc > max_.Load() {
				max_.Store(ms.HeapAlloc)
			}
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	return func() uint64 { <-done; return max_.Load() }
}

// A client sends pings as fast as it can and never reads the pongs. Pongs
// past half of MaxPending are dropped, so its queue stays bounded until a
// write times out or a broadcast does not fit, and it is closed as a slow
// consumer (4000). Another client's latency does not change meanwhile.
func TestPingFloodNotReading(t *testing.T) {
	tg, latency := floodSetup(t, Config{MaxPending: 256 << 10, WriteTimeout: time.Second})
	alone := latency(100)
	baseHeap := heapInUse()

	flooder := dialFlooder(t, tg.public, false)
	eventually(t, "flooder attached", func() bool { return tg.Stats().Clients == 2 })
	batch := pingBatch()
	floodDone := make(chan int64)
	go func() {
		var sent int64
		defer func() { floodDone <- sent }()
		for {
			_ = flooder.SetWriteDeadline(time.Now().Add(waitFor))
			n, err := flooder.Write(batch)
			sent += int64(n)
			if err != nil {
				return
			}
		}
	}()
	stop := make(chan struct{})
	peak := heapSampler(stop)
	flooding := latency(100)
	eventuallyWithin(t, 4*waitFor, "flooder closed as a slow consumer", func() bool { return tg.Stats().SlowConsumer == 1 })
	close(stop)
	_ = flooder.Close()
	sent := <-floodDone
	eventually(t, "flooder removed", func() bool { return tg.Stats().Clients == 1 })
	p := peak()
	t.Logf("flood of %d bytes; fast client p50 %v alone, %v during the flood; heap peak %d over %d", sent, alone, flooding, p, baseHeap)
	if p > baseHeap+16<<20 {
		t.Fatalf("heap peaked %d bytes over its baseline", p-baseHeap)
	}
	if flooding > 5*alone+5*time.Millisecond {
		t.Fatalf("the flood slowed another client: p50 %v -> %v", alone, flooding)
	}
}

// A client floods pings and reads what it gets: it stays connected (its
// pongs cannot crowd out the broadcasts), memory stays bounded, and
// another client's latency does not change.
func TestPingFloodReading(t *testing.T) {
	tg, latency := floodSetup(t, Config{MaxPending: 256 << 10})
	alone := latency(100)
	baseHeap := heapInUse()

	reader := dialFlooder(t, tg.public, true)
	eventually(t, "flooder attached", func() bool { return tg.Stats().Clients == 2 })
	batch := pingBatch()
	stop := make(chan struct{})
	var fwg sync.WaitGroup
	var pongBytes atomic.Int64
	fwg.Go(func() {
		var b [32 << 10]byte
		for {
			n, err := reader.Read(b[:])
			pongBytes.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	fwg.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
			}
			if _, err := reader.Write(batch); err != nil {
				return
			}
		}
	})
	peak := heapSampler(stop)
	flooding := latency(1000)
	close(stop)
	_ = reader.SetReadDeadline(time.Now()) // ends the reader goroutine
	fwg.Wait()
	p := peak()
	t.Logf("reading flooder got %d bytes; fast client p50 %v alone, %v during the flood; heap peak %d over %d", pongBytes.Load(), alone, flooding, p, baseHeap)
	if st := tg.Stats(); st.SlowConsumer != 0 || st.Clients != 2 {
		t.Fatalf("a flooder that reads was closed: %+v", st)
	}
	if pongBytes.Load() == 0 {
		t.Fatal("nothing reached the reading flooder")
	}
	if p > baseHeap+16<<20 {
		t.Fatalf("heap peaked %d bytes over its baseline", p-baseHeap)
	}
	if flooding > 5*alone+5*time.Millisecond {
		t.Fatalf("the flood slowed another client: p50 %v -> %v", alone, flooding)
	}
}
