package gateway

import (
	"bufio"
	"encoding/binary"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
)

// Helpers of the security tests: a raw TCP client that writes hand-made
// requests and frames, so the tests see exactly what the gateway sends back.

// rawMask is the masking key of the frames built by rawFrame.
var rawMask = [4]byte{0x5a, 0x13, 0xc4, 0x7e}

// Opcodes as bytes, for hand-made frames.
const (
	rawCont   = 0x0
	rawText   = 0x1
	rawBinary = 0x2
	rawClose  = 0x8
	rawPing   = 0x9
	rawPong   = 0xA
)

// rawFrame builds a client frame byte by byte: fin, the three RSV bits, the
// opcode, the shortest length encoding, and the masking key and masked
// payload when masked is set.
func rawFrame(fin bool, rsv, op byte, masked bool, payload []byte) []byte {
	b0 := rsv<<4 | op
	if fin {
		b0 |= 0x80
	}
	var mbit byte
	if masked {
		mbit = 0x80
	}
	out := []byte{b0}
	switch n := len(payload); {
	case n < 126:
		out = append(out, mbit|byte(n))
	case n <= 0xFFFF:
		out = binary.BigEndian.AppendUint16(append(out, mbit|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, mbit|127), uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out = append(out, rawMask[:]...)
	start := len(out)
	out = append(out, payload...)
	ws.Cipher(out[start:], rawMask, 0)
	return out
}

// masked is a final, masked frame.
func maskedFrame(op byte, payload string) []byte {
	return rawFrame(true, 0, op, true, []byte(payload))
}

// fragFrame is a masked frame with the given fin bit.
func fragFrame(fin bool, op byte, payload string) []byte {
	return rawFrame(fin, 0, op, true, []byte(payload))
}

// closeBody is a close frame payload.
func closeBody(code uint16, reason string) string {
	return string(binary.BigEndian.AppendUint16(nil, code)) + reason
}

// upgradeRequest is a valid upgrade request for path with extra header
// lines ("Name: value\r\n" each).
func upgradeRequest(path string, extra ...string) string {
	return "GET " + path + " HTTP/1.1\r\n" +
		"Host: 127.0.0.1\r\n" +
		"Upgrade: websocket\r\n" +
		"Connection: Upgrade\r\n" +
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n" +
		"Sec-WebSocket-Version: 13\r\n" +
		strings.Join(extra, "") + "\r\n"
}

// rawConn is a hand-driven client connection.
type rawConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

// dialRaw opens a TCP connection to addr without sending anything.
func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

// upgradeRaw dials addr and completes a handshake written by hand.
func upgradeRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c := dialRaw(t, addr)
	resp := c.request(upgradeRequest("/"))
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade: status %d", resp.StatusCode)
	}
	return c
}

// write sends b.
func (c *rawConn) write(b []byte) {
	c.t.Helper()
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.nc.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// request writes req and reads the HTTP response head (the body, if any, is
// left unread unless the status is an error).
func (c *rawConn) request(req string) *http.Response {
	c.t.Helper()
	c.write([]byte(req))
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.t.Fatalf("read response: %v", err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
	}
	return resp
}

// serverFrame is one frame from the gateway.
type serverFrame struct {
	op      ws.OpCode
	fin     bool
	payload []byte
}

// closeCode returns the code of a close frame (1005 without a payload).
func (f serverFrame) closeCode() uint16 {
	if len(f.payload) < 2 {
		return 1005
	}
	return binary.BigEndian.Uint16(f.payload)
}

// readFrame reads one server frame, checking it is unmasked and well formed.
func (c *rawConn) readFrame() (serverFrame, error) {
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	h, err := ws.ReadHeader(c.br)
	if err != nil {
		return serverFrame{}, err
	}
	if h.Masked || h.Rsv != 0 {
		c.t.Fatalf("bad server frame header %+v", h)
	}
	if h.OpCode.IsControl() && (h.Length > 125 || !h.Fin) {
		c.t.Fatalf("bad server control frame %+v", h)
	}
	p := make([]byte, h.Length)
	if _, err := io.ReadFull(c.br, p); err != nil {
		return serverFrame{}, err
	}
	return serverFrame{op: h.OpCode, fin: h.Fin, payload: p}, nil
}

// expectFrame reads the next frame, skipping the heartbeat's pings.
func (c *rawConn) expectFrame() serverFrame {
	c.t.Helper()
	for {
		f, err := c.readFrame()
		if err != nil {
			c.t.Fatalf("read frame: %v", err)
		}
		if f.op != ws.OpPing {
			return f
		}
	}
}

// expectClose reads up to the close frame, checks its code, and then that
// the gateway closed the socket.
func (c *rawConn) expectClose(code uint16) {
	c.t.Helper()
	f := c.expectFrame()
	if f.op != ws.OpClose {
		c.t.Fatalf("got %v frame %q, want close %d", f.op, f.payload, code)
	}
	if got := f.closeCode(); got != code {
		c.t.Fatalf("close code %d (%q), want %d", got, f.payload, code)
	}
	c.expectEOF()
}

// expectEOF checks that the gateway closes the socket (EOF or a reset)
// without sending anything more.
func (c *rawConn) expectEOF() {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	b, err := c.br.ReadByte()
	if err == nil {
		c.t.Fatalf("got byte %#x, want the socket closed", b)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.t.Fatal("socket still open")
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("no /proc/self/fd: %v", err)
	}
	return len(ents)
}

// heapInUse returns the live heap after a collection.
func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}
