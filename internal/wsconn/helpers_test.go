package wsconn

import (
	"bytes"
	"encoding/binary"
	"net"

	"github.com/gobwas/ws"
)

// testMask is the masking key of the client frames built by the tests.
var testMask = [4]byte{0x37, 0xfa, 0x21, 0x3d}

// clientFrame builds a client frame by hand: byte 0 from fin, rsv (3 bits)
// and op; a minimal length encoding; the mask key if masked; the payload,
// masked if masked.
func clientFrame(fin bool, rsv, op byte, masked bool, payload []byte) []byte {
	b0 := rsv<<4 | op
	if fin {
		b0 |= 0x80
	}
	var b1 byte
	if masked {
		b1 = 0x80
	}
	out := []byte{b0}
	n := len(payload)
	switch {
	case n < 126:
		out = append(out, b1|byte(n))
	case n <= 0xFFFF:
		out = binary.BigEndian.AppendUint16(append(out, b1|126), uint16(n))
	default:
		out = binary.BigEndian.AppendUint64(append(out, b1|127), uint64(n))
	}
	if !masked {
		return append(out, payload...)
	}
	out = append(out, testMask[:]...)
	start := len(out)
	out = append(out, payload...)
	ws.Cipher(out[start:], testMask, 0)
	return out
}

// masked is a final masked frame with opcode op.
func masked(op byte, payload []byte) []byte { return clientFrame(true, 0, op, true, payload) }

// fragment is a masked frame with the given fin bit.
func fragment(fin bool, op byte, payload string) []byte {
	return clientFrame(fin, 0, op, true, []byte(payload))
}

// closePayload is a close frame payload: code and reason.
func closePayload(code uint16, reason string) []byte {
	return append(binary.BigEndian.AppendUint16(nil, code), reason...)
}

func concat(frames ...[]byte) []byte {
	var out []byte
	for _, f := range frames {
		out = append(out, f...)
	}
	return out
}

// memConn is a net.Conn reading a fixed input (then io.EOF) in reads of at
// most chunk bytes, and recording what is written. Unlike net.Pipe it can
// signal the end of the input while still accepting the response.
type memConn struct {
	net.Conn // nil: only the methods below are used
	in       *bytes.Reader
	chunk    int
	out      bytes.Buffer
}

func (c *memConn) Read(p []byte) (int, error) {
	if c.chunk > 0 && len(p) > c.chunk {
		p = p[:c.chunk]
	}
	return c.in.Read(p)
}

func (c *memConn) Write(p []byte) (int, error) { return c.out.Write(p) }
