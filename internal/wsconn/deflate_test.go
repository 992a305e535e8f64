package wsconn

import (
	"bufio"
	"bytes"
	"compress/flate"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// deflateRaw compresses p as a permessage-deflate sender does: a sync
// flush, its 00 00 ff ff tail removed.
func deflateRaw(t testing.TB, p []byte, level int) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, err := flate.NewWriter(&b, level)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := fw.Write(p); err != nil {
		t.Fatal(err)
	}
	if err := fw.Flush(); err != nil {
		t.Fatal(err)
	}
	out := b.Bytes()
	if !bytes.HasSuffix(out, []byte{0, 0, 0xff, 0xff}) {
		t.Fatalf("flush output does not end with 00 00 ff ff: % x", out[max(0, len(out)-8):])
	}
	return out[:len(out)-4]
}

// compressedFrame is a masked client frame with RSV1 set.
func compressedFrame(fin bool, op byte, payload []byte) []byte {
	return clientFrame(fin, 4, op, true, payload)
}

func TestNegotiateDeflate(t *testing.T) {
	const accepted = "permessage-deflate;server_no_context_takeover;client_no_context_takeover"
	tests := []struct {
		name   string
		offer  string // Sec-WebSocket-Extensions, "" for none
		off    bool   // UpgradeConfig.Compression false
		want   string // the response's Sec-WebSocket-Extensions, "" for none
		window uint8  // Handshake.WindowBits, 0 when not negotiated
	}{
		{name: "no offer", want: ""},
		{name: "plain offer", offer: "permessage-deflate", want: accepted, window: 15},
		{name: "chromium", offer: "permessage-deflate; client_max_window_bits", want: accepted, window: 15},
		{name: "client window value", offer: "permessage-deflate; client_max_window_bits=10", want: accepted, window: 15},
		{name: "quoted client window", offer: `permessage-deflate; client_max_window_bits="12"`, want: accepted, window: 15},
		{name: "all parameters", offer: "permessage-deflate; server_no_context_takeover; client_no_context_takeover; client_max_window_bits=15", want: accepted, window: 15},
		{name: "server window 15 echoed", offer: "permessage-deflate; server_max_window_bits=15", want: accepted + ";server_max_window_bits=15", window: 15},
		{name: "server window 10 echoed", offer: "permessage-deflate; server_max_window_bits=10", want: accepted + ";server_max_window_bits=10", window: 10},
		{name: "server window 8 echoed", offer: "permessage-deflate; server_max_window_bits=8; client_max_window_bits=8", want: accepted + ";server_max_window_bits=8", window: 8},
		{name: "server window 16 declined", offer: "permessage-deflate; server_max_window_bits=16", want: ""},
		{name: "server window without a value declined", offer: "permessage-deflate; server_max_window_bits", want: ""},
		{name: "fallback to the next offer", offer: "permessage-deflate; server_max_window_bits=7, permessage-deflate; client_max_window_bits", want: accepted, window: 15},
		{name: "first acceptable offer only", offer: "permessage-deflate; server_max_window_bits=9, permessage-deflate", want: accepted + ";server_max_window_bits=9", window: 9},
		{name: "unknown parameter declined", offer: "permessage-deflate; foo=1", want: ""},
		{name: "duplicate parameter declined", offer: "permessage-deflate; client_no_context_takeover; client_no_context_takeover", want: ""},
		{name: "invalid window declined", offer: "permessage-deflate; client_max_window_bits=7", want: ""},
		{name: "no_context_takeover with a value declined", offer: "permessage-deflate; server_no_context_takeover=1", want: ""},
		{name: "other extension ignored", offer: "x-webkit-deflate-frame", want: ""},
		{name: "other extension then deflate", offer: "x-webkit-deflate-frame, permessage-deflate", want: accepted, window: 15},
		{name: "compression off", offer: "permessage-deflate", off: true, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var extra []string
			if tt.offer != "" {
				extra = append(extra, "Sec-WebSocket-Extensions: "+tt.offer+"\r\n")
			}
			c := &memConn{in: bytes.NewReader([]byte(validRequest("/", extra...)))}
			hs, err := Upgrade(c, &UpgradeConfig{Compression: !tt.off})
			if err != nil {
				t.Fatalf("Upgrade: %v", err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(&c.out), nil)
			if err != nil {
				t.Fatalf("response: %v\n%s", err, c.out.String())
			}
			if resp.StatusCode != http.StatusSwitchingProtocols {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if got := resp.Header.Get("Sec-WebSocket-Extensions"); got != tt.want {
				t.Errorf("Sec-WebSocket-Extensions = %q, want %q", got, tt.want)
			}
			if hs.Compressed != (tt.window != 0) || hs.WindowBits != tt.window {
				t.Errorf("Compressed = %v, WindowBits = %d, want window %d", hs.Compressed, hs.WindowBits, tt.window)
			}
		})
	}
}

func TestReadCompressed(t *testing.T) {
	text := []byte(strings.Repeat(`{"type":"say","from":"ü","text":"hello"},`, 100))
	z := deflateRaw(t, text, flate.BestSpeed)
	bin := []byte{0, 1, 2, 3, 0, 1, 2, 3, 0, 1, 2, 3, 0xff}
	zb := deflateRaw(t, bin, flate.BestCompression)
	empty := deflateRaw(t, nil, flate.BestSpeed)
	third := len(z) / 3

	tests := []struct {
		name   string
		input  []byte
		frames []Frame // expected, in order
	}{
		{name: "one frame", input: compressedFrame(true, opText, z),
			frames: []Frame{{Kind: KindMessage, Payload: text}}},
		{name: "binary", input: compressedFrame(true, opBinary, zb),
			frames: []Frame{{Kind: KindMessage, Binary: true, Payload: bin}}},
		{name: "empty message", input: compressedFrame(true, opText, empty),
			frames: []Frame{{Kind: KindMessage, Payload: []byte{}}}},
		{name: "final block sent by the client", input: compressedFrame(true, opText, closedDeflate(t, text)),
			frames: []Frame{{Kind: KindMessage, Payload: text}}},
		{name: "fragments with a ping between", input: concat(
			compressedFrame(false, opText, z[:third]),
			masked(opPing, []byte("p")),
			clientFrame(false, 0, opContinuation, true, z[third:2*third]),
			clientFrame(true, 0, opContinuation, true, z[2*third:]),
		), frames: []Frame{{Kind: KindNone}, {Kind: KindPing, Payload: []byte("p")}, {Kind: KindNone}, {Kind: KindMessage, Payload: text}}},
		{name: "uncompressed message on a compressed connection", input: concat(
			masked(opText, []byte("plain")),
			compressedFrame(true, opText, z),
			masked(opBinary, []byte{9}),
		), frames: []Frame{{Kind: KindMessage, Payload: []byte("plain")}, {Kind: KindMessage, Payload: text}, {Kind: KindMessage, Binary: true, Payload: []byte{9}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := Reader{Deflate: true}
			r := bytes.NewReader(tt.input)
			for i, want := range tt.frames {
				f, err := rd.ReadFrame(r)
				if err != nil {
					t.Fatalf("frame %d: %v", i, err)
				}
				if f.Kind != want.Kind || f.Binary != want.Binary || !bytes.Equal(f.Payload, want.Payload) {
					t.Fatalf("frame %d = %v binary %v %d bytes, want %v binary %v %d bytes",
						i, f.Kind, f.Binary, len(f.Payload), want.Kind, want.Binary, len(want.Payload))
				}
			}
			if r.Len() != 0 || rd.Fragmenting() {
				t.Fatalf("%d bytes left, fragmenting %v", r.Len(), rd.Fragmenting())
			}
		})
	}
}

// closedDeflate compresses p ending with a final block (Close), as some
// clients do.
func closedDeflate(t *testing.T, p []byte) []byte {
	t.Helper()
	var b bytes.Buffer
	fw, _ := flate.NewWriter(&b, flate.BestSpeed)
	_, _ = fw.Write(p)
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestReadCompressedViolations(t *testing.T) {
	z := deflateRaw(t, []byte(strings.Repeat("abc", 100)), flate.BestSpeed)
	badUTF8 := deflateRaw(t, []byte("ok \xff\xfe not ok"), flate.BestSpeed)
	tests := []struct {
		name    string
		deflate bool
		input   []byte
		limit   int64
		code    uint16
	}{
		{name: "RSV1 not negotiated", input: compressedFrame(true, opText, z), code: CloseProtocolError},
		{name: "RSV1 on a continuation", deflate: true, input: concat(
			compressedFrame(false, opText, z[:4]), compressedFrame(true, opContinuation, z[4:])), code: CloseProtocolError},
		{name: "RSV1 on an uncompressed message's continuation", deflate: true, input: concat(
			fragment(false, opText, "a"), compressedFrame(true, opContinuation, z)), code: CloseProtocolError},
		{name: "RSV1 on a ping", deflate: true, input: compressedFrame(true, opPing, nil), code: CloseProtocolError},
		{name: "RSV1 on a close", deflate: true, input: compressedFrame(true, opClose, closePayload(1000, "")), code: CloseProtocolError},
		{name: "RSV2", deflate: true, input: clientFrame(true, 2, opText, true, z), code: CloseProtocolError},
		{name: "RSV1 and RSV3", deflate: true, input: clientFrame(true, 5, opText, true, z), code: CloseProtocolError},
		{name: "bad deflate data", deflate: true, input: compressedFrame(true, opText, []byte{0xff, 0xff, 0xff, 0xff, 0x00, 0x12}), code: CloseInvalidPayload},
		{name: "reserved block type", deflate: true, input: compressedFrame(true, opBinary, []byte{0x07, 0x00}), code: CloseInvalidPayload},
		{name: "distance too far back", deflate: true, input: compressedFrame(true, opBinary, farBack(t)), code: CloseInvalidPayload},
		{name: "invalid UTF-8 after inflating", deflate: true, input: compressedFrame(true, opText, badUTF8), code: CloseInvalidPayload},
		{name: "inflates past the limit", deflate: true, limit: 299, input: compressedFrame(true, opText, z), code: CloseTooBig},
		{name: "compressed bytes past the limit", deflate: true, limit: int64(len(z) - 1), input: compressedFrame(true, opText, z), code: CloseTooBig},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := Reader{Deflate: tt.deflate, Limits: Limits{MaxMessageSize: tt.limit}}
			r := bytes.NewReader(tt.input)
			var err error
			for err == nil {
				_, err = rd.ReadFrame(r)
			}
			var ce *CloseError
			if !errors.As(err, &ce) || ce.Code != tt.code {
				t.Fatalf("err = %v, want close %d", err, tt.code)
			}
		})
	}
	t.Run("exactly the limit", func(t *testing.T) {
		rd := Reader{Deflate: true, Limits: Limits{MaxMessageSize: 300}}
		f, err := rd.ReadFrame(bytes.NewReader(compressedFrame(true, opText, z)))
		if err != nil || len(f.Payload) != 300 {
			t.Fatalf("got %d bytes, %v", len(f.Payload), err)
		}
	})
}

// farBack is a deflate stream whose first match refers to data before the
// message: what a client using context takeover despite
// client_no_context_takeover would send.
func farBack(t *testing.T) []byte {
	t.Helper()
	dict := []byte(strings.Repeat("0123456789abcdef", 64))
	var b bytes.Buffer
	fw, err := flate.NewWriterDict(&b, flate.BestCompression, dict)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = fw.Write(dict[:256])
	_ = fw.Flush()
	return bytes.TrimSuffix(b.Bytes(), []byte{0, 0, 0xff, 0xff})
}

// TestReadCompressedZipBomb sends 64 MiB of zeros compressed into about
// 64 KiB: the reader refuses it with 1009 once the output passes the
// 1 MiB limit, having allocated a few MiB, not 64.
func TestReadCompressedZipBomb(t *testing.T) {
	const size = 64 << 20
	const limit = 1 << 20
	bomb := deflateRaw(t, make([]byte, size), flate.BestCompression)
	t.Logf("%d bytes inflate to %d", len(bomb), size)
	frame := compressedFrame(true, opBinary, bomb)
	rd := Reader{Deflate: true, Limits: Limits{MaxMessageSize: limit}}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	_, err := rd.ReadFrame(bytes.NewReader(frame))
	runtime.ReadMemStats(&after)
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseTooBig {
		t.Fatalf("err = %v, want close 1009", err)
	}
	if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 8*limit {
		t.Errorf("allocated %d bytes for a %d-byte limit", alloc, limit)
	}
}

func TestReadyCompressed(t *testing.T) {
	z := deflateRaw(t, []byte(strings.Repeat("x", 1000)), flate.BestSpeed)
	frame := compressedFrame(true, opText, z)
	rd := Reader{Deflate: true}
	if rd.Ready(frame[:len(frame)-1]) {
		t.Error("Ready with the last byte missing")
	}
	if !rd.Ready(frame) {
		t.Error("not Ready with the whole frame")
	}
	plain := Reader{}
	if !plain.Ready(frame[:8]) {
		t.Error("RSV1 without Deflate: not Ready to refuse the header")
	}
}

func TestFitsWindow(t *testing.T) {
	tests := []struct {
		n    int
		bits uint8
		want bool
	}{
		{1 << 20, 0, true}, {1 << 20, 15, true}, {512, 9, true}, {513, 9, false}, {256, 8, true}, {257, 8, false},
	}
	for _, tt := range tests {
		if got := FitsWindow(tt.n, tt.bits); got != tt.want {
			t.Errorf("FitsWindow(%d, %d) = %v", tt.n, tt.bits, got)
		}
	}
}

func TestCompressor(t *testing.T) {
	z, err := NewCompressor(0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := NewCompressor(10); err == nil {
		t.Error("level 10 accepted")
	}
	msg := []byte(strings.Repeat(`{"user":"ann","text":"hi there"}`, 128))
	for _, binary := range []bool{false, true} {
		frame, ok := z.AppendMessage([]byte("prefix"), binary, msg)
		if !ok {
			t.Fatal("JSON not compressed")
		}
		frame = frame[len("prefix"):]
		op := byte(opText)
		if binary {
			op = opBinary
		}
		if frame[0] != finBit|rsv1|op {
			t.Fatalf("first byte %#x, want FIN, RSV1 and opcode %d", frame[0], op)
		}
		if len(frame) > len(msg)/4 {
			t.Errorf("%d bytes compressed to %d", len(msg), len(frame))
		}
		// The server's own reader decompresses it (as a client would).
		rd := Reader{Deflate: true}
		client := append([]byte(nil), frame...)
		client[1] |= 0x80 // masked with a zero key
		hdrLen := len(frame) - len(serverPayload(frame))
		client = append(client[:hdrLen:hdrLen], append([]byte{0, 0, 0, 0}, frame[hdrLen:]...)...)
		f, err := rd.ReadFrame(bytes.NewReader(client))
		if err != nil || !bytes.Equal(f.Payload, msg) || f.Binary != binary {
			t.Fatalf("round trip: %v, %d bytes", err, len(f.Payload))
		}
	}

	random := make([]byte, 1024)
	_, _ = rand.Read(random)
	if out, ok := z.AppendMessage([]byte("x"), false, random); ok || string(out) != "x" {
		t.Errorf("incompressible data: ok %v, dst %q", ok, out)
	}
	if _, ok := z.AppendMessage(nil, false, nil); ok {
		t.Error("empty message compressed")
	}

	// Concurrent use: every goroutine gets its own frames right.
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			m := []byte(strings.Repeat(itoa(i), 500+i))
			for range 50 {
				frame, ok := z.AppendMessage(nil, true, m)
				got, err := inflate(append(serverPayload(frame), deflateTail...), 1<<20)
				if !ok || err != nil || !bytes.Equal(got, m) {
					t.Errorf("goroutine %d: ok %v err %v", i, ok, err)
					return
				}
			}
		}()
	}
	wg.Wait()
}

// TestDeflateWithGorillaClient negotiates with gorilla/websocket
// (EnableCompression): the client's compressed messages are read, and the
// server's Compressor frames are read by the client.
func TestDeflateWithGorillaClient(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	z, _ := NewCompressor(0)
	done := make(chan error, 1)
	go func() {
		done <- func() error {
			conn, err := ln.Accept()
			if err != nil {
				return err
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
			hs, err := Upgrade(conn, &UpgradeConfig{Compression: true})
			if err != nil {
				return err
			}
			if !hs.Compressed {
				return errors.New("not negotiated")
			}
			rd := Reader{Deflate: hs.Compressed}
			for {
				f, err := rd.ReadFrame(conn)
				if err != nil {
					return err
				}
				switch f.Kind {
				case KindClose:
					_, err := conn.Write(AppendClose(nil, CloseNormal, ""))
					return err
				case KindMessage:
					out, ok := z.AppendMessage(nil, f.Binary, f.Payload)
					if !ok {
						out = AppendMessage(nil, f.Binary, f.Payload)
					}
					if _, err := conn.Write(out); err != nil {
						return err
					}
				}
			}
		}()
	}()

	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 5 * time.Second}
	c, resp, err := d.Dial("ws://"+ln.Addr().String()+"/", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if got := resp.Header.Get("Sec-WebSocket-Extensions"); !strings.Contains(got, "permessage-deflate") {
		t.Fatalf("Sec-WebSocket-Extensions = %q", got)
	}
	random := make([]byte, 3000)
	_, _ = rand.Read(random)
	for _, m := range [][]byte{
		[]byte(strings.Repeat("compressible text ✓ ", 500)),
		[]byte("short"),
		{},
	} {
		if err := c.WriteMessage(websocket.TextMessage, m); err != nil {
			t.Fatal(err)
		}
		_, got, err := c.ReadMessage()
		if err != nil || !bytes.Equal(got, m) {
			t.Fatalf("echo of %d bytes: %v, got %d bytes", len(m), err, len(got))
		}
	}
	if err := c.WriteMessage(websocket.BinaryMessage, random); err != nil {
		t.Fatal(err)
	}
	_, got, err := c.ReadMessage()
	if err != nil || !bytes.Equal(got, random) {
		t.Fatalf("binary echo: %v", err)
	}
	_ = c.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseNormalClosure, ""))
	if _, _, err := c.ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Errorf("close: %v", err)
	}
	if err := <-done; err != nil && !errors.Is(err, io.EOF) {
		t.Errorf("server: %v", err)
	}
}

// serverPayload returns a copy of the payload of an unmasked server frame.
func serverPayload(frame []byte) []byte {
	n := 2
	switch frame[1] & 0x7f {
	case 126:
		n = 4
	case 127:
		n = 10
	}
	return append([]byte(nil), frame[n:]...)
}

// FuzzReadCompressed reads arbitrary input on a connection that negotiated
// permessage-deflate: only close errors or EOF, never a message past the
// limit, never a panic.
func FuzzReadCompressed(f *testing.F) {
	text := []byte(strings.Repeat("fuzz me ", 40))
	z := deflateRaw(f, text, flate.BestSpeed)
	f.Add(compressedFrame(true, opText, z))
	f.Add(concat(compressedFrame(false, opBinary, z[:5]), masked(opPing, nil), clientFrame(true, 0, opContinuation, true, z[5:])))
	f.Add(compressedFrame(true, opBinary, deflateRaw(f, make([]byte, 4096), flate.BestCompression)))
	f.Add(compressedFrame(true, opText, []byte{0xff, 0x00}))
	f.Add(compressedFrame(true, opPing, nil))
	const maxMessage = 1024
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := Reader{Deflate: true, Limits: Limits{MaxFrameSize: 512, MaxMessageSize: maxMessage}}
		r := bytes.NewReader(data)
		for range 100 {
			fr, err := rd.ReadFrame(r)
			if err != nil {
				var ce *CloseError
				if !errors.As(err, &ce) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if len(fr.Payload) > maxMessage {
				t.Fatalf("message of %d bytes past the limit", len(fr.Payload))
			}
		}
	})
}

// json4K is a 4 KiB JSON message like a dashboard update.
func json4K() []byte {
	var b strings.Builder
	b.WriteString(`{"type":"update","rows":[`)
	for i := 0; b.Len() < 4000; i++ {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(`{"id":` + itoa(1000+i*7) + `,"name":"sensor-` + itoa(i) + `","value":` + itoa(i*37%1000) + `.` + itoa(i%10) + `,"ok":true}`)
	}
	b.WriteString(`]}`)
	return []byte(b.String())
}

func BenchmarkCompressor4KiBJSON(b *testing.B) {
	msg := json4K()
	for _, level := range []struct {
		name  string
		level int
	}{{"BestSpeed", flate.BestSpeed}, {"Default", flate.DefaultCompression}} {
		b.Run(level.name, func(b *testing.B) {
			z, _ := NewCompressor(level.level)
			var n int
			b.ReportAllocs()
			b.SetBytes(int64(len(msg)))
			for b.Loop() {
				frame, _ := z.AppendMessage(nil, false, msg)
				n = len(frame)
			}
			b.ReportMetric(float64(n), "frame-bytes")
		})
	}
}

func BenchmarkReadCompressed4KiBJSON(b *testing.B) {
	msg := json4K()
	frame := compressedFrame(true, opText, deflateRaw(b, msg, flate.BestSpeed))
	r := bytes.NewReader(frame)
	rd := Reader{Deflate: true}
	b.ReportAllocs()
	b.SetBytes(int64(len(msg)))
	for b.Loop() {
		r.Reset(frame)
		if _, err := rd.ReadFrame(r); err != nil {
			b.Fatal(err)
		}
	}
}

// inflateWithZlib decompresses a permessage-deflate payload with Python's
// zlib, its window limited to 2^bits bytes: a distance past it fails
// ("invalid distance too far back").
func inflateWithZlib(t *testing.T, payload []byte, bits int) ([]byte, error) {
	t.Helper()
	python, err := exec.LookPath("python3")
	if err != nil {
		t.Skip("python3 not found")
	}
	// Output in 16-byte steps, so that back-references are served from
	// zlib's window, not from the output buffer of the same call.
	script := "import sys, zlib\n" +
		"d = zlib.decompressobj(-" + itoa(bits) + ")\n" +
		"data = sys.stdin.buffer.read() + b'\\x00\\x00\\xff\\xff'\n" +
		"out = d.decompress(data, 16)\n" +
		"while d.unconsumed_tail:\n" +
		"    out += d.decompress(d.unconsumed_tail, 16)\n" +
		"sys.stdout.buffer.write(out)\n"
	cmd := exec.Command(python, "-c", script)
	cmd.Stdin = bytes.NewReader(payload)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, errors.New(stderr.String())
	}
	return out, nil
}

// TestCompressorFitsWindowZlib checks FitsWindow's premise with an
// independent decoder: a message of 2^N bytes compressed by a Compressor
// decompresses with a window of 2^N bytes (server_max_window_bits=N), for
// every N the RFC allows, while the same decoder refuses a stream that
// refers further back.
func TestCompressorFitsWindowZlib(t *testing.T) {
	z, _ := NewCompressor(0)
	for bits := 8; bits <= 15; bits++ {
		msg := []byte(strings.Repeat(`{"id":12345,"name":"sensor","ok":true},`, (1<<bits)/39+1))[:1<<bits]
		frame, ok := z.AppendMessage(nil, false, msg)
		if !ok {
			t.Fatalf("%d bytes not compressed", len(msg))
		}
		got, err := inflateWithZlib(t, serverPayload(frame), bits)
		if err != nil || !bytes.Equal(got, msg) {
			t.Fatalf("window %d bits: zlib got %d bytes, %v", bits, len(got), err)
		}
	}
	// The decoder does enforce the window: a 4 KiB message whose second
	// half repeats its first (distance 2 KiB) fails with a 1 KiB window.
	half := make([]byte, 2048)
	_, _ = rand.Read(half)
	frame, _ := z.AppendMessage(nil, true, append(half, half...))
	if _, err := inflateWithZlib(t, serverPayload(frame), 10); err == nil {
		t.Fatal("zlib decoded a 2 KiB distance with a 1 KiB window")
	}
}
