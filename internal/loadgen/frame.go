package loadgen

import (
	"bufio"
	"encoding/binary"
	"fmt"
	"io"
	"sync/atomic"
)

// WebSocket opcodes (RFC 6455 section 5.2).
const (
	opContinuation byte = 0x0
	opText         byte = 0x1
	opBinary       byte = 0x2
	opClose        byte = 0x8
	opPing         byte = 0x9
	opPong         byte = 0xa
)

// maxControlPayload is the largest payload of a control frame.
const maxControlPayload = 125

// appendClientFrame appends one final, masked frame (clients must mask) with
// opcode op and payload p to dst. It does not allocate when dst has room.
func appendClientFrame(dst []byte, op byte, p []byte, mask [4]byte) []byte {
	dst = append(dst, 0x80|op)
	n := len(p)
	switch {
	case n <= 125:
		dst = append(dst, 0x80|byte(n))
	case n <= 0xffff:
		dst = append(dst, 0x80|126, byte(n>>8), byte(n))
	default:
		dst = append(dst, 0x80|127)
		dst = binary.BigEndian.AppendUint64(dst, uint64(n))
	}
	dst = append(dst, mask[:]...)
	start := len(dst)
	dst = append(dst, p...)
	for i := range p {
		dst[start+i] ^= mask[i&3]
	}
	return dst
}

// frameReader reads server frames from one connection, reusing one message
// buffer: the payload it returns is valid until the next call.
type frameReader struct {
	r      *bufio.Reader
	max    int
	msg    []byte // data message being assembled (reused)
	ctrl   [maxControlPayload]byte
	hdr    [8]byte
	mask   [4]byte
	fragOp byte // opcode of the fragmented message in progress, 0 if none

	// permessage-deflate (deflate.go): deflate says it was negotiated,
	// compressed that the message in progress is compressed, plain holds
	// the decompressed message (reused). wire counts the frame bytes read.
	deflate, compressed bool
	plain               []byte
	wire                atomic.Uint64
}

func newFrameReader(r *bufio.Reader, max int) *frameReader {
	return &frameReader{r: r, max: max, msg: make([]byte, 0, 256)}
}

// next returns the next complete data message (opText or opBinary, fragments
// joined) or the next control frame (opClose, opPing, opPong).
func (fr *frameReader) next() (op byte, payload []byte, err error) {
	for {
		if _, err := io.ReadFull(fr.r, fr.hdr[:2]); err != nil {
			return 0, nil, err
		}
		fin := fr.hdr[0]&0x80 != 0
		rsv1 := fr.hdr[0]&0x40 != 0
		fr.wire.Add(2)
		op = fr.hdr[0] & 0x0f
		masked := fr.hdr[1]&0x80 != 0
		n := uint64(fr.hdr[1] & 0x7f)
		switch n {
		case 126:
			if _, err := io.ReadFull(fr.r, fr.hdr[:2]); err != nil {
				return 0, nil, err
			}
			n = uint64(binary.BigEndian.Uint16(fr.hdr[:2]))
			fr.wire.Add(2)
		case 127:
			if _, err := io.ReadFull(fr.r, fr.hdr[:8]); err != nil {
				return 0, nil, err
			}
			n = binary.BigEndian.Uint64(fr.hdr[:8])
			fr.wire.Add(8)
		}
		mask := [4]byte{}
		if masked { // servers do not mask, but accept it
			if _, err := io.ReadFull(fr.r, fr.mask[:]); err != nil {
				return 0, nil, err
			}
			mask = fr.mask
		}
		if op >= opClose { // control frame
			if !fin || n > maxControlPayload {
				return 0, nil, fmt.Errorf("%w: control frame op %#x len %d fin %v", ErrBadFrame, op, n, fin)
			}
			p := fr.ctrl[:n]
			if _, err := io.ReadFull(fr.r, p); err != nil {
				return 0, nil, err
			}
			unmask(p, mask, masked)
			return op, p, nil
		}
		switch {
		case op == opContinuation && fr.fragOp == 0:
			return 0, nil, fmt.Errorf("%w: continuation without start", ErrBadFrame)
		case op != opContinuation && fr.fragOp != 0:
			return 0, nil, fmt.Errorf("%w: new message inside fragmented one", ErrBadFrame)
		case op != opContinuation && op != opText && op != opBinary:
			return 0, nil, fmt.Errorf("%w: opcode %#x", ErrBadFrame, op)
		}
		if op != opContinuation {
			fr.msg = fr.msg[:0]
			fr.fragOp = op
			fr.compressed = rsv1 && fr.deflate
		}
		if n > uint64(fr.max-len(fr.msg)) {
			return 0, nil, fmt.Errorf("%w: %d bytes, limit %d", ErrFrameTooLarge, uint64(len(fr.msg))+n, fr.max)
		}
		start := len(fr.msg)
		fr.msg = grow(fr.msg, int(n))
		p := fr.msg[start:]
		if _, err := io.ReadFull(fr.r, p); err != nil {
			return 0, nil, err
		}
		unmask(p, mask, masked)
		fr.wire.Add(n)
		if fin {
			op, fr.fragOp = fr.fragOp, 0
			if fr.compressed {
				p, err := fr.inflateMsg()
				return op, p, err
			}
			return op, fr.msg, nil
		}
	}
}

// grow extends b by n bytes, reallocating only when its capacity is short.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) >= n {
		return b[:len(b)+n]
	}
	nb := make([]byte, len(b)+n, 2*cap(b)+n)
	copy(nb, b)
	return nb
}

func unmask(p []byte, mask [4]byte, masked bool) {
	if !masked {
		return
	}
	for i := range p {
		p[i] ^= mask[i&3]
	}
}
