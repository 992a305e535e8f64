package wsconn

import (
	"encoding/binary"
	"errors"
	"io"
	"slices"
	"strconv"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// preallocLimit is the largest peer-declared payload length trusted for
// allocation before the bytes arrive. A longer payload is read in chunks of
// this size into a buffer that grows as data actually arrives, so a client
// that declares a 1 MiB frame and sends nothing pins at most this much.
const preallocLimit = 32 << 10

// Reader reassembles one client's messages. The zero value with Limits set is
// ready. It keeps no buffer between messages, only while a fragmented message
// is incomplete. A Reader is not safe for concurrent use.
//
// After ReadFrame returns an error the Reader's state is undefined: the
// caller closes the connection.
type Reader struct {
	Limits Limits
	// Deflate says that the connection negotiated permessage-deflate
	// (Handshake.Compressed): the first frame of a text or binary message
	// may set RSV1, and the message is then decompressed (deflate.go).
	Deflate bool
	// WindowBits is Handshake.WindowBits. The Reader does not use it: it
	// is kept here, in a byte the struct has spare, for whoever compresses
	// messages to the client (FitsWindow).
	WindowBits uint8

	hdr       [ws.MaxHeaderSize - 2]byte // scratch for readHeader
	op        byte                       // opcode of the fragmented message in progress, 0 if none
	deflated  bool                       // the message in progress is compressed
	msg       []byte                     // fragments received so far
	validated int                        // msg[:validated] is known valid UTF-8 (text only)
}

// Fragmenting reports whether a fragmented message is in progress, so the
// caller keeps reading until it completes.
func (rd *Reader) Fragmenting() bool { return rd.op != 0 }

func protocolError(reason string) error {
	return &CloseError{Code: CloseProtocolError, Reason: reason}
}

// ReadFrame reads exactly one frame from r, blocking until the whole frame
// is read, and validates it (RFC 6455 sections 5 and 7):
//
//   - client frames must be masked, RSV bits zero (RSV1 allowed: see
//     Deflate), the opcode known; control frames final and at most 125
//     bytes; a continuation needs a message in progress and a new text or
//     binary frame needs none; a close payload is empty or holds a valid
//     code: otherwise *CloseError with CloseProtocolError;
//   - text messages and close reasons must be valid UTF-8: otherwise
//     CloseInvalidPayload. Text is checked as the bytes arrive (after each
//     read of r, across code points split between reads or fragments), so
//     the error comes at the first invalid byte, without waiting for the
//     rest of its frame;
//   - a frame longer than Limits.MaxFrameSize, or one taking the message
//     past Limits.MaxMessageSize, gives CloseTooBig, decided on the header
//     before anything is allocated or read.
//
// Control frames interleaved in a fragmented message are returned and the
// message in progress is kept. I/O errors (io.EOF before a frame starts,
// io.ErrUnexpectedEOF inside one, timeouts) are returned as they are.
func (rd *Reader) ReadFrame(r io.Reader) (Frame, error) {
	h, err := rd.readHeader(r)
	if err != nil {
		return Frame{}, err
	}
	if err := rd.check(h); err != nil {
		return Frame{}, err
	}
	op := byte(h.OpCode)
	if op&0x8 != 0 {
		return rd.readControl(r, h)
	}
	if h.Rsv != 0 || rd.deflated {
		return rd.readCompressed(r, h)
	}

	if op != opContinuation && h.Fin {
		// The common case: a whole message in one frame.
		p, _, err := readPayload(r, nil, h, op == opText, 0, true)
		if err != nil {
			return Frame{}, err
		}
		return Frame{Kind: KindMessage, Binary: op == opBinary, Payload: p}, nil
	}

	if op != opContinuation {
		rd.op = op
	}
	rd.msg, rd.validated, err = readPayload(r, rd.msg, h, rd.op == opText, rd.validated, h.Fin)
	if err != nil {
		return Frame{}, err
	}
	if !h.Fin {
		return Frame{Kind: KindNone}, nil
	}
	f := Frame{Kind: KindMessage, Binary: rd.op == opBinary, Payload: rd.msg}
	rd.op, rd.msg, rd.validated = 0, nil, 0
	return f, nil
}

// check validates a frame header against the RFC, the message in
// progress and the Limits, before anything of the payload is read.
func (rd *Reader) check(h ws.Header) error {
	op := byte(h.OpCode)
	switch {
	case h.Rsv != 0 && !rd.rsvAllowed(h):
		return protocolError("reserved bits set without an extension")
	case !h.Masked:
		return protocolError("client frame not masked")
	case op&0x8 != 0:
		switch {
		case op != opClose && op != opPing && op != opPong:
			return protocolError("reserved opcode " + strconv.Itoa(int(op)))
		case !h.Fin:
			return protocolError("fragmented control frame")
		case h.Length > maxControlPayload:
			return protocolError("control frame payload over 125 bytes")
		}
		return nil
	case op != opContinuation && op != opText && op != opBinary:
		return protocolError("reserved opcode " + strconv.Itoa(int(op)))
	case op == opContinuation && rd.op == 0:
		return protocolError("continuation frame without a message in progress")
	case op != opContinuation && rd.op != 0:
		return protocolError("new data frame inside a fragmented message")
	case h.Length > rd.Limits.frame():
		return &CloseError{Code: CloseTooBig, Reason: "frame too big"}
	case int64(len(rd.msg))+h.Length > rd.Limits.message():
		return &CloseError{Code: CloseTooBig, Reason: "message too big"}
	}
	return nil
}

// Ready reports whether ReadFrame can return using only buffered (bytes
// received and not read yet, e.g. bufio.Reader.Peek(Buffered())): they
// begin with a whole frame, or with a header that ReadFrame refuses
// without reading further. A caller woken by a poller reads only when
// Ready, and otherwise waits for the rest of the frame where waiting holds
// up nobody else.
//
// Ready does not look into payloads, so it is false for a partial text
// frame even when the bytes that arrived are already invalid UTF-8, on
// which ReadFrame would fail at once: reading it where waiting is allowed
// fails just as fast.
func (rd *Reader) Ready(buffered []byte) bool {
	if len(buffered) < 2 {
		return false
	}
	var h ws.Header
	h.Fin = buffered[0]&finBit != 0
	h.Rsv = (buffered[0] >> 4) & 0x7
	h.OpCode = ws.OpCode(buffered[0] & 0xf)
	h.Masked = buffered[1]&0x80 != 0
	length := buffered[1] & 0x7f
	n := 2 // the header's size, all of which readHeader reads first
	switch length {
	case 126:
		n += 2
	case 127:
		n += 8
	}
	if h.Masked {
		n += len(h.Mask)
	}
	if len(buffered) < n {
		return false
	}
	switch length {
	case 126:
		h.Length = int64(binary.BigEndian.Uint16(buffered[2:]))
	case 127:
		if buffered[2]&0x80 != 0 {
			return true // refused by readHeader
		}
		h.Length = int64(binary.BigEndian.Uint64(buffered[2:]))
	default:
		h.Length = int64(length)
	}
	if rd.check(h) != nil {
		return true
	}
	return int64(len(buffered)-n) >= h.Length
}

// readHeader reads a frame header like ws.ReadHeaderBuffer, except that
// running out of input after the first byte is io.ErrUnexpectedEOF (gobwas/ws
// returns io.EOF when the extended length or mask is missing entirely), and
// a 64-bit length with the most significant bit set is a *CloseError.
func (rd *Reader) readHeader(r io.Reader) (ws.Header, error) {
	var h ws.Header
	b := rd.hdr[:2]
	if n, err := io.ReadFull(r, b); err != nil {
		if n > 0 {
			err = io.ErrUnexpectedEOF
		}
		return h, err
	}
	h.Fin = b[0]&finBit != 0
	h.Rsv = (b[0] >> 4) & 0x7
	h.OpCode = ws.OpCode(b[0] & 0xf)
	h.Masked = b[1]&0x80 != 0
	lenBytes := 0
	switch length := b[1] & 0x7f; length {
	case 126:
		lenBytes = 2
	case 127:
		lenBytes = 8
	default:
		h.Length = int64(length)
	}
	extra := lenBytes
	if h.Masked {
		extra += len(h.Mask)
	}
	if extra == 0 {
		return h, nil
	}
	b = rd.hdr[:extra]
	if _, err := io.ReadFull(r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return h, err
	}
	switch lenBytes {
	case 2:
		h.Length = int64(binary.BigEndian.Uint16(b))
	case 8:
		if b[0]&0x80 != 0 {
			return h, protocolError("payload length with the most significant bit set")
		}
		h.Length = int64(binary.BigEndian.Uint64(b))
	}
	copy(h.Mask[:], b[lenBytes:])
	return h, nil
}

// errInvalidText is the error of a text message that is not valid UTF-8.
func errInvalidText() error {
	return &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}
}

// validateUTF8 checks p[from:] as far as it can, failing fast on invalid
// UTF-8, and returns how far p is now known valid. Unless final (the
// message ends with p), an incomplete code point at the end (at most 3
// bytes that can still become valid) is left for the next call.
func validateUTF8(p []byte, from int, final bool) (int, bool) {
	end := len(p)
	if !final {
		// Look back at most 3 bytes for the start of an incomplete code point.
		for i := end - 1; i >= from && i >= end-3; i-- {
			c := p[i]
			if c < utf8.RuneSelf {
				break
			}
			if utf8.RuneStart(c) {
				if !utf8.FullRune(p[i:end]) {
					end = i // a valid prefix: wait for the rest
				}
				break
			}
		}
	}
	if !utf8.Valid(p[from:end]) {
		return from, false
	}
	return end, true
}

// readControl reads the payload of a control frame that passed check.
func (rd *Reader) readControl(r io.Reader, h ws.Header) (Frame, error) {
	op := byte(h.OpCode)
	p, _, err := readPayload(r, nil, h, false, 0, true)
	if err != nil {
		return Frame{}, err
	}
	switch op {
	case opPing:
		return Frame{Kind: KindPing, Payload: p}, nil
	case opPong:
		return Frame{Kind: KindPong, Payload: p}, nil
	}
	switch {
	case len(p) == 0:
		return Frame{Kind: KindClose, CloseCode: CloseNoStatus}, nil
	case len(p) == 1:
		return Frame{}, protocolError("close payload of 1 byte")
	}
	code := binary.BigEndian.Uint16(p)
	if !ValidCloseCode(code) {
		return Frame{}, protocolError("invalid close code " + strconv.Itoa(int(code)))
	}
	if !utf8.Valid(p[2:]) {
		return Frame{}, &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in close reason"}
	}
	return Frame{Kind: KindClose, CloseCode: code, CloseReason: string(p[2:])}, nil
}

// readPayload reads h.Length payload bytes from r and appends them unmasked
// to dst. Payloads up to preallocLimit are read into one allocation; longer
// ones grow the buffer as bytes arrive.
//
// For text (text true), dst[validated:] is checked as each read returns, not
// once the frame is complete, so invalid UTF-8 fails (CloseInvalidPayload) as
// soon as its first byte arrives, even inside a frame whose rest is still on
// its way; final says that this frame ends the message. It returns the
// extended slice and how far it is known valid UTF-8.
func readPayload(r io.Reader, dst []byte, h ws.Header, text bool, validated int, final bool) ([]byte, int, error) {
	if h.Length == 0 {
		if text && final {
			if _, ok := validateUTF8(dst, validated, true); !ok {
				return dst, validated, errInvalidText()
			}
		}
		return dst, validated, nil
	}
	var off int64 // payload bytes of this frame read so far (the mask offset)
	for off < h.Length {
		chunk := int(min(h.Length-off, preallocLimit))
		if cap(dst)-len(dst) == 0 {
			dst = slices.Grow(dst, chunk)
		}
		want := min(cap(dst)-len(dst), int(h.Length-off))
		n, err := r.Read(dst[len(dst) : len(dst)+want])
		if n > 0 {
			ws.Cipher(dst[len(dst):len(dst)+n], h.Mask, int(off))
			dst = dst[:len(dst)+n]
			off += int64(n)
			if text {
				var ok bool
				if validated, ok = validateUTF8(dst, validated, final && off == h.Length); !ok {
					return dst, validated, errInvalidText()
				}
			}
		}
		if err != nil && off < h.Length {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return dst, validated, err
		}
	}
	return dst, validated, nil
}
