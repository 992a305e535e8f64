package gateway

import (
	"bytes"
	"compress/flate"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/internal/gopool"
	"github.com/gatewayworker/gatewayworker/internal/wsconn"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

const deflateOffer = "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"

// jsonMessage is a JSON document of about size bytes, like a dashboard
// update.
func jsonMessage(size int) []byte {
	var b strings.Builder
	b.WriteString(`{"type":"update","rows":[`)
	for i := 0; b.Len() < size-40; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":` + strconv.Itoa(1000+i*7) + `,"name":"sensor-` + strconv.Itoa(i) +
			`","value":` + strconv.Itoa(i*37%1000) + `,"ok":true}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

// rawDataFrame is a data frame read by a raw client, RSV bits included.
type rawDataFrame struct {
	rsv     byte
	op      ws.OpCode
	payload []byte
}

// readDataFrame reads the next frame that is not a ping, without judging
// its RSV bits (rawConn.readFrame refuses them).
func (c *rawConn) readDataFrame() rawDataFrame {
	c.t.Helper()
	for {
		_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		if h.Masked || !h.Fin {
			c.t.Fatalf("bad server frame header %+v", h)
		}
		p := make([]byte, h.Length)
		if _, err := io.ReadFull(c.br, p); err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		if h.OpCode != ws.OpPing {
			return rawDataFrame{rsv: h.Rsv, op: h.OpCode, payload: p}
		}
	}
}

// inflateRaw decompresses a permessage-deflate payload.
func inflateRaw(t *testing.T, p []byte) []byte {
	t.Helper()
	out, err := io.ReadAll(flate.NewReader(io.MultiReader(bytes.NewReader(p),
		strings.NewReader("\x00\x00\xff\xff\x01\x00\x00\xff\xff"))))
	if err != nil {
		t.Fatalf("inflate: %v", err)
	}
	return out
}

// deflateRaw compresses p as a client does (sync flush, tail removed).
func deflateRaw(t testing.TB, p []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, level)
	_, _ = fw.Write(p)
	_ = fw.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// upgradeOffering dials and upgrades with a permessage-deflate offer, and
// checks that the gateway accepted it.
func upgradeOffering(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	resp := c.request(upgradeRequest("/", deflateOffer))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	const want = "permessage-deflate;server_no_context_takeover;client_no_context_takeover"
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != want {
		t.Fatalf("Sec-WebSocket-Extensions = %q, want %q", got, want)
	}
	return c
}

func dialCompressing(t *testing.T, addr string) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: waitFor}
	c, resp, err := d.Dial("ws://"+addr+"/", nil)
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	if !strings.Contains(resp.Header.Get("Sec-WebSocket-Extensions"), "permessage-deflate") {
		t.Fatalf("deflate not negotiated: %q", resp.Header.Get("Sec-WebSocket-Extensions"))
	}
	return c
}

// TestCompressionBroadcast sends one large and one small message to all,
// then to a group, with four clients: gorilla with and without
// compression, and raw clients with and without the offer. The large
// message is compressed once per send and the same bytes (RSV1 set) reach
// both compressing clients; the small one and everything for the others
// go uncompressed.
func TestCompressionBroadcast(t *testing.T) {
	tg := startGateway(t, Config{})
	l := dialLink(t, tg.lan, "", "w1", true)

	gz := dialCompressing(t, tg.public)
	seqGz := l.connectEvent().GetConn()
	gp := dialWS(t, tg.public, "/", nil)
	seqGp := l.connectEvent().GetConn()
	rz := upgradeOffering(t, tg.public)
	seqRz := l.connectEvent().GetConn()
	rp := upgradeRaw(t, tg.public)
	l.connectEvent()

	eventually(t, "2 compressed clients in Stats", func() bool { return tg.Stats().CompressedClients == 2 })
	if n := tg.Stats().Clients; n != 4 {
		t.Fatalf("%d clients", n)
	}

	large := jsonMessage(4096)
	small := []byte(`{"type":"ping"}`)
	check := func(step string, wantCompressions uint64) {
		t.Helper()
		for _, c := range []*websocket.Conn{gz, gp} {
			for _, want := range [][]byte{large, small} {
				if _, got := readMsg(t, c); got != string(want) {
					t.Fatalf("%s: gorilla got %d bytes, want %d", step, len(got), len(want))
				}
			}
		}
		f := rz.readDataFrame()
		if f.rsv != 4 || f.op != ws.OpText {
			t.Fatalf("%s: large message to the compressing client: rsv %d op %v, want RSV1 text", step, f.rsv, f.op)
		}
		if len(f.payload) > len(large)/3 {
			t.Errorf("%s: %d bytes compressed to %d", step, len(large), len(f.payload))
		}
		if got := inflateRaw(t, f.payload); !bytes.Equal(got, large) {
			t.Fatalf("%s: inflated %d bytes, want the %d sent", step, len(got), len(large))
		}
		if f := rz.readDataFrame(); f.rsv != 0 || !bytes.Equal(f.payload, small) {
			t.Fatalf("%s: small message: rsv %d payload %q", step, f.rsv, f.payload)
		}
		for _, want := range [][]byte{large, small} {
			if f := rp.readDataFrame(); f.rsv != 0 || !bytes.Equal(f.payload, want) {
				t.Fatalf("%s: client without compression: rsv %d, %d bytes, want %d plain", step, f.rsv, len(f.payload), len(want))
			}
		}
		if got := tg.metrics.compressions.Load(); got != wantCompressions {
			t.Errorf("%s: %d compressions, want %d (once per send)", step, got, wantCompressions)
		}
	}

	all := func(data []byte) *pb.Command {
		return &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: data}}}
	}
	l.commands(all(large), all(small))
	check("to all", 1)
	if got, want := tg.metrics.compressedMsgs.Load(), uint64(2); got != want {
		t.Errorf("%d compressed deliveries, want %d", got, want)
	}
	z, raw := tg.metrics.compressedBytes.Load(), tg.metrics.compressedRawBytes.Load()
	if raw != 2*uint64(wsconn.FrameSize(len(large))) || z == 0 || z*3 > raw {
		t.Errorf("compressed frame bytes %d, uncompressed %d", z, raw)
	}

	for _, seq := range []uint64{seqGz, seqGp, seqRz} {
		if r := l.call(&pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: seq, Groups: []string{"room"}}}}); r.GetError() != "" {
			t.Fatal(r.GetError())
		}
	}
	group := func(data []byte) *pb.Command {
		return &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_GROUPS, Groups: []string{"room"}, Data: data}}}
	}
	l.commands(group(large), group(small), all(large), all(small))
	// The group send reaches gz, gp and rz; then the send to all, everyone.
	for _, c := range []*websocket.Conn{gz, gp} {
		for _, want := range [][]byte{large, small} {
			if _, got := readMsg(t, c); got != string(want) {
				t.Fatalf("group: gorilla got %d bytes, want %d", len(got), len(want))
			}
		}
	}
	if f := rz.readDataFrame(); f.rsv != 4 || !bytes.Equal(inflateRaw(t, f.payload), large) {
		t.Fatalf("group: large message to the compressing client: rsv %d", f.rsv)
	}
	if f := rz.readDataFrame(); f.rsv != 0 || !bytes.Equal(f.payload, small) {
		t.Fatalf("group: small message: rsv %d", f.rsv)
	}
	check("to all again", 3)

	// A single client: compressed too when above the threshold.
	l.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{seqRz}, Data: large, Binary: true}}})
	if f := rz.readDataFrame(); f.rsv != 4 || f.op != ws.OpBinary || !bytes.Equal(inflateRaw(t, f.payload), large) {
		t.Fatalf("single send: rsv %d op %v", f.rsv, f.op)
	}

	// Closing the compressing clients takes them out of the count.
	_ = gz.Close()
	_ = rz.nc.Close()
	eventually(t, "no compressed clients", func() bool { return tg.Stats().CompressedClients == 0 })
}

// TestCompressionThreshold: with CompressionThreshold 1 a small
// compressible message is compressed; one that does not shrink is not.
func TestCompressionThreshold(t *testing.T) {
	tg := startGateway(t, Config{CompressionThreshold: 1})
	l := dialLink(t, tg.lan, "", "w1", true)
	rz := upgradeOffering(t, tg.public)
	seq := l.connectEvent().GetConn()
	small := []byte("aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa")
	l.commands(sendTo(string(small), seq), sendTo("x", seq))
	if f := rz.readDataFrame(); f.rsv != 4 || !bytes.Equal(inflateRaw(t, f.payload), small) {
		t.Fatalf("small compressible message: rsv %d", f.rsv)
	}
	if f := rz.readDataFrame(); f.rsv != 0 || string(f.payload) != "x" {
		t.Fatalf("1-byte message: rsv %d payload %q", f.rsv, f.payload)
	}
	if _, err := New(Config{CompressionThreshold: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative threshold: %v", err)
	}
}

// TestCompressedClientMessages: what compressing clients send reaches the
// worker decompressed, whole and fragmented.
func TestCompressedClientMessages(t *testing.T) {
	tg := startGateway(t, Config{})
	l := dialLink(t, tg.lan, "", "w1", true)
	gz := dialCompressing(t, tg.public)
	l.connectEvent()
	msg := jsonMessage(20000)
	if err := gz.WriteMessage(websocket.TextMessage, msg); err != nil {
		t.Fatal(err)
	}
	if got := l.event().GetMessage().GetData(); !bytes.Equal(got, msg) {
		t.Fatalf("worker got %d bytes, want %d", len(got), len(msg))
	}

	rz := upgradeOffering(t, tg.public)
	l.connectEvent()
	z := deflateRaw(t, msg, flate.BestSpeed)
	half := len(z) / 2
	rz.write(rawFrame(false, 4, rawBinary, true, z[:half]))
	rz.write(rawFrame(true, 0, rawPing, true, []byte("p")))
	rz.write(rawFrame(true, 0, 0, true, z[half:]))
	if f := rz.readDataFrame(); f.op != ws.OpPong {
		t.Fatalf("got %v, want the pong", f.op)
	}
	ev := l.event().GetMessage()
	if !ev.GetBinary() || !bytes.Equal(ev.GetData(), msg) {
		t.Fatalf("fragmented: worker got binary %v, %d bytes", ev.GetBinary(), len(ev.GetData()))
	}
}

// TestCompressionHostileInput: bad compressed data gets 1007, a zip bomb
// 1009 (the limit applies to the decompressed size), RSV1 without the
// extension 1002; each is counted as a protocol error.
func TestCompressionHostileInput(t *testing.T) {
	const limit = 64 << 10
	tg := startGateway(t, Config{MaxMessageSize: limit})
	ackingWorker(t, tg) // clients are read only while a worker takes their events
	bomb := deflateRaw(t, make([]byte, 16<<20), flate.BestCompression)
	if len(bomb) > limit {
		t.Fatalf("bomb of %d bytes does not fit the frame limit", len(bomb))
	}
	tests := []struct {
		name  string
		offer bool
		frame []byte
		code  uint16
	}{
		{"bad deflate data", true, rawFrame(true, 4, rawText, true, []byte{0xff, 0xfe, 0xfd, 0xfc, 0x00}), wsconn.CloseInvalidPayload},
		{"zip bomb", true, rawFrame(true, 4, rawBinary, true, bomb), wsconn.CloseTooBig},
		{"invalid UTF-8 inside", true, rawFrame(true, 4, rawText, true, deflateRaw(t, []byte("a\xffb"), flate.BestSpeed)), wsconn.CloseInvalidPayload},
		{"RSV1 on a ping", true, rawFrame(true, 4, rawPing, true, nil), wsconn.CloseProtocolError},
		{"RSV1 without the extension", false, rawFrame(true, 4, rawText, true, deflateRaw(t, []byte("hi"), flate.BestSpeed)), wsconn.CloseProtocolError},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := tg.Stats().ProtocolErrors
			var c *rawConn
			if tt.offer {
				c = upgradeOffering(t, tg.public)
			} else {
				c = upgradeRaw(t, tg.public)
			}
			c.write(tt.frame)
			c.expectClose(tt.code)
			eventually(t, "the protocol error counted", func() bool { return tg.Stats().ProtocolErrors == before+1 })
		})
	}
}

// TestCompressionDisabled: with DisableCompression an offer is ignored,
// frames go plain and RSV1 is a protocol error.
func TestCompressionDisabled(t *testing.T) {
	tg := startGateway(t, Config{DisableCompression: true})
	l := dialLink(t, tg.lan, "", "w1", true)
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: waitFor}
	gz, resp, err := d.Dial("ws://"+tg.public+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer gz.Close()
	if ext := resp.Header.Get("Sec-WebSocket-Extensions"); ext != "" {
		t.Fatalf("Sec-WebSocket-Extensions = %q with compression off", ext)
	}
	l.connectEvent()
	c := dialRaw(t, tg.public)
	if resp := c.request(upgradeRequest("/", deflateOffer)); resp.Header.Get("Sec-WebSocket-Extensions") != "" {
		t.Fatal("extension accepted with compression off")
	}
	l.connectEvent()
	large := jsonMessage(4096)
	l.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: large}}})
	if _, got := readMsg(t, gz); got != string(large) {
		t.Fatal("gorilla: wrong message")
	}
	if f := c.readDataFrame(); f.rsv != 0 || !bytes.Equal(f.payload, large) {
		t.Fatalf("raw: rsv %d", f.rsv)
	}
	if tg.Stats().CompressedClients != 0 || tg.metrics.compressions.Load() != 0 {
		t.Fatal("compression counted with compression off")
	}
	c.write(rawFrame(true, 4, rawText, true, deflateRaw(t, []byte("hi"), flate.BestSpeed)))
	c.expectClose(wsconn.CloseProtocolError)
}

// benchGatewayDeflate is benchGateway with every client's compression
// flag set as if it had negotiated permessage-deflate.
func benchGatewayDeflate(b testing.TB, n int, deflate bool) (*Gateway, []*conn) {
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
		c := newConn(g, nil, int(null.Fd()))
		c.rd.Deflate = deflate
		g.hub.add(c)
		conns[i] = c
	}
	return g, conns
}

// BenchmarkBroadcastCompression10k broadcasts a 4 KiB JSON message to
// 10,000 clients that negotiated permessage-deflate (compressed once per
// broadcast) and to 10,000 that did not, as BenchmarkBroadcast10k does
// (the frames are written into /dev/null). wire-bytes/delivery is the
// frame each client gets.
func BenchmarkBroadcastCompression10k(b *testing.B) {
	const n = 10000
	msg := jsonMessage(4096)
	for _, mode := range []struct {
		name    string
		deflate bool
	}{{"plain", false}, {"deflate", true}} {
		b.Run(mode.name, func(b *testing.B) {
			g, _ := benchGatewayDeflate(b, n, mode.deflate)
			cm := &commander{g: g}
			send := &pb.Send{Target: pb.Send_TARGET_ALL, Data: msg}
			b.ReportAllocs()
			for b.Loop() {
				cm.send(send)
				g.connWG.Wait()
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/delivery")
			wire := float64(wsconn.FrameSize(len(msg)))
			if mode.deflate {
				wire = float64(g.metrics.compressedBytes.Load()) / float64(g.metrics.compressedMsgs.Load())
			}
			b.ReportMetric(wire, "wire-bytes/delivery")
		})
	}
}

// TestIdleCompressedClientHeap is TestIdleClientHeap with clients that
// negotiated permessage-deflate and have each received a compressed
// broadcast and sent a compressed message: idle, they hold no more than
// clients without compression after the same exchange uncompressed (no
// compressor or decompressor state per connection).
func TestIdleCompressedClientHeap(t *testing.T) {
	if testing.Short() {
		t.Skip("opens 2000 sockets")
	}
	plain := idleHeapAfterExchange(t, false)
	compressed := idleHeapAfterExchange(t, true)
	t.Logf("heap per idle client after a broadcast and a message (server and client side): %d bytes plain, %d compressed", plain, compressed)
	if compressed > 3<<10 || compressed > plain+256 {
		t.Fatalf("idle compressed client holds %d bytes of heap (plain: %d)", compressed, plain)
	}
}

// idleHeapAfterExchange connects 1000 clients (offering compression or
// not), broadcasts a 4 KiB JSON message to them, has each send one
// (compressed if negotiated), and returns the heap held per idle client.
func idleHeapAfterExchange(t *testing.T, compression bool) int64 {
	const n = 1000
	tg := startGateway(t, Config{})
	l := dialLink(t, tg.lan, "", "w1", true)
	heap := func() uint64 {
		// Twice: pooled compressors survive one collection.
		runtime.GC()
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
	var d ws.Dialer
	if compression {
		d.Extensions = []httphead.Option{wsflate.Parameters{ClientMaxWindowBits: 1}.Option()}
	}
	for range n {
		c, _, hs, err := d.Dial(context.Background(), "ws://"+tg.public+"/")
		if err != nil {
			t.Fatal(err)
		}
		if compression != (len(hs.Extensions) == 1) {
			t.Fatalf("extensions %v", hs.Extensions)
		}
		clients = append(clients, c)
	}
	want := 0
	if compression {
		want = n
	}
	eventually(t, "clients attached", func() bool { return tg.Stats().Clients == n && tg.Stats().CompressedClients == want })
	for range n {
		// Acked, as a worker would: 1000 connects unacked would fill the
		// link's window and pause the clients' messages.
		l.ack2(l.connectEvent().GetSeq())
	}
	msg := jsonMessage(4096)
	l.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: msg}}})
	out := rawFrame(true, 0, rawText, true, msg)
	if compression {
		out = rawFrame(true, 4, rawText, true, deflateRaw(t, msg, flate.BestSpeed))
	}
	for _, c := range clients {
		_ = c.SetReadDeadline(time.Now().Add(waitFor))
		h, err := ws.ReadHeader(c)
		if err != nil || (h.Rsv == 4) != compression {
			t.Fatalf("broadcast: header %+v, %v", h, err)
		}
		if _, err := io.CopyN(io.Discard, c, h.Length); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Write(out); err != nil {
			t.Fatal(err)
		}
	}
	var last uint64
	for range n {
		ev := l.event()
		if got := ev.GetMessage().GetData(); !bytes.Equal(got, msg) {
			t.Fatalf("worker got %d bytes", len(got))
		}
		last = max(last, ev.GetSeq())
	}
	// Acked, the events (and the messages they carry) are released.
	l.ack(last)
	l.flush()
	if compression && tg.metrics.compressions.Load() != 1 {
		t.Fatalf("%d compressions for one broadcast", tg.metrics.compressions.Load())
	}
	eventually(t, "handshake goroutines gone", func() bool { return runtime.NumGoroutine() <= goroutines+gopool.DefaultSize })
	per := (int64(heap()) - int64(before)) / n
	// Gone before the next measurement.
	for _, c := range clients {
		_ = c.Close()
	}
	l.close()
	if err := tg.stop(t); err != nil {
		t.Fatal(err)
	}
	return per
}

// TestCompressionClientWindow: a client that limits the server's window
// (server_max_window_bits=9, 512 bytes) gets the compressed frame only for
// messages that fit it; the same send still compresses once for a client
// with the full window.
func TestCompressionClientWindow(t *testing.T) {
	tg := startGateway(t, Config{})
	l := dialLink(t, tg.lan, "", "w1", true)
	small := dialRaw(t, tg.public)
	resp := small.request(upgradeRequest("/", "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=9\r\n"))
	const want = "permessage-deflate;server_no_context_takeover;client_no_context_takeover;server_max_window_bits=9"
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != want {
		t.Fatalf("Sec-WebSocket-Extensions = %q, want %q", got, want)
	}
	l.connectEvent()
	full := upgradeOffering(t, tg.public)
	l.connectEvent()

	large, fits := jsonMessage(4096), jsonMessage(512)
	all := func(data []byte) *pb.Command {
		return &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: data}}}
	}
	l.commands(all(large), all(fits))
	if f := small.readDataFrame(); f.rsv != 0 || !bytes.Equal(f.payload, large) {
		t.Fatalf("4 KiB to the 512-byte window: rsv %d, %d bytes", f.rsv, len(f.payload))
	}
	if f := small.readDataFrame(); f.rsv != 4 || !bytes.Equal(inflateRaw(t, f.payload), fits) {
		t.Fatalf("%d bytes to the 512-byte window: rsv %d", len(fits), f.rsv)
	}
	for _, m := range [][]byte{large, fits} {
		if f := full.readDataFrame(); f.rsv != 4 || !bytes.Equal(inflateRaw(t, f.payload), m) {
			t.Fatalf("%d bytes to the full window: rsv %d", len(m), f.rsv)
		}
	}
	if got := tg.metrics.compressions.Load(); got != 2 {
		t.Errorf("%d compressions for two sends", got)
	}
}
