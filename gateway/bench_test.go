package gateway

import (
	"fmt"
	"net"
	"os"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gatewayworker/gatewayworker/internal/gwqueue"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// discardConn is an in-memory client socket that swallows writes.
type discardConn struct{}

func (discardConn) Read([]byte) (int, error)         { select {} }
func (discardConn) Write(p []byte) (int, error)      { return len(p), nil }
func (discardConn) Close() error                     { return nil }
func (discardConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (discardConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (discardConn) SetDeadline(time.Time) error      { return nil }
func (discardConn) SetReadDeadline(time.Time) error  { return nil }
func (discardConn) SetWriteDeadline(time.Time) error { return nil }

// benchGateway returns a gateway (not serving) with n in-memory clients.
func benchGateway(b testing.TB, n int) (*Gateway, []*conn) {
	b.Helper()
	g, err := New(Config{MaxPending: 1 << 30})
	if err != nil {
		b.Fatal(err)
	}
	null, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = null.Close() })
	conns := make([]*conn, n)
	for i := range conns {
		// The bare socket of every client is /dev/null (one descriptor,
		// shared; the clients are never finished): the writer shards'
		// non-blocking writev path runs for real, into a device that takes
		// everything.
		c := newConn(g, nil, int(null.Fd()))
		g.hub.add(c)
		conns[i] = c
	}
	return g, conns
}

// BenchmarkBroadcast10k measures one broadcast to 10,000 clients: encode
// once, queue the shared frame on every client, the writer shards write it
// out (one writev per client, into /dev/null). Each op waits until every
// frame is written.
// allocs/op divided by 10,000 is the allocations per delivery.
func BenchmarkBroadcast10k(b *testing.B) {
	const n = 10000
	g, _ := benchGateway(b, n)
	cm := &commander{g: g}
	send := &pb.Send{Target: pb.Send_TARGET_ALL, Data: make([]byte, 128)}
	b.ReportAllocs()
	for b.Loop() {
		cm.send(send)
		g.connWG.Wait() // every frame written, the writer shards idle
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// BenchmarkBroadcastGroup10k is BenchmarkBroadcast10k to a group of 10,000
// clients (the group index instead of the client table).
func BenchmarkBroadcastGroup10k(b *testing.B) {
	const n = 10000
	g, conns := benchGateway(b, n)
	for _, c := range conns {
		g.hub.join(c, "room")
	}
	cm := &commander{g: g}
	send := &pb.Send{Target: pb.Send_TARGET_GROUPS, Groups: []string{"room"}, Data: make([]byte, 128)}
	b.ReportAllocs()
	for b.Loop() {
		cm.send(send)
		g.connWG.Wait()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// The fan-out allocates per broadcast (the frame), never per delivery: a
// broadcast to 2,000 clients allocates no more than one to 200.
func TestFanoutAllocationsDoNotGrowWithClients(t *testing.T) {
	allocs := func(n int) float64 {
		g, _ := benchGateway(t, n)
		cm := &commander{g: g}
		send := &pb.Send{Target: pb.Send_TARGET_ALL, Data: make([]byte, 128)}
		cm.send(send) // warm the queues and the writer shards
		g.connWG.Wait()
		return testing.AllocsPerRun(50, func() {
			cm.send(send)
			g.connWG.Wait()
		})
	}
	small, large := allocs(200), allocs(2000)
	t.Logf("allocations per broadcast: %v to 200 clients, %v to 2000", small, large)
	if large > small+1 {
		t.Fatalf("%v allocations per broadcast to 2000 clients, %v to 200: the fan-out allocates per delivery", large, small)
	}
}

// BenchmarkEnqueue10k measures the fan-out alone: the flushers are held
// (marked running), so only encoding and queueing are timed.
func BenchmarkEnqueue10k(b *testing.B) {
	const n = 10000
	g, conns := benchGateway(b, n)
	for _, c := range conns {
		c.flushing = true
	}
	cm := &commander{g: g}
	send := &pb.Send{Target: pb.Send_TARGET_ALL, Data: make([]byte, 128)}
	b.ReportAllocs()
	var batch gwqueue.Batch
	for i := 0; b.Loop(); i++ {
		cm.send(send)
		if i%16 == 15 { // drain queues as a writer would, off the clock
			b.StopTimer()
			for _, c := range conns {
				batch.Fill(&c.q)
				batch.Reset()
			}
			b.StartTimer()
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
}

// BenchmarkRoute measures routing one client event among 4 workers.
func BenchmarkRoute(b *testing.B) {
	g, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	links := make([]*link, 4)
	for i := range links {
		links[i] = newLink(g, &pb.Hello{LinkerId: fmt.Sprintf("worker-%d", i), Events: true})
		g.router.add(links[i])
	}
	ev := &pb.Event{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		g.router.route(uint64(i), ev, 64, nil, false)
		if i%1024 == 1023 {
			for _, l := range links {
				l.mu.Lock()
				l.pending, l.pendingBytes = l.pending[:0], 0
				l.mu.Unlock()
			}
		}
	}
}

// BenchmarkCommandSend measures decoding a LinkRequest with one Send to
// one client and applying it.
func BenchmarkCommandSend(b *testing.B) {
	g, conns := benchGateway(b, 100)
	l := newLink(g, &pb.Hello{LinkerId: "w"})
	raw, err := proto.Marshal(&pb.LinkRequest{Commands: []*pb.Command{{Op: &pb.Command_Send{Send: &pb.Send{
		Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{conns[7].seq}, Data: make([]byte, 128)}}}}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		var req pb.LinkRequest
		if err := proto.Unmarshal(raw, &req); err != nil {
			b.Fatal(err)
		}
		l.cmd.applyAll(l, &req)
	}
	g.connWG.Wait()
}
