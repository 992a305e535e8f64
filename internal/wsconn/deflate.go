package wsconn

import (
	"bytes"
	"compress/flate"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"
	"unicode/utf8"

	"github.com/gobwas/httphead"
	"github.com/gobwas/ws"
	"github.com/gobwas/ws/wsflate"
)

// permessage-deflate (RFC 7692).
//
// The server always answers an offer it accepts with
// "permessage-deflate; server_no_context_takeover; client_no_context_takeover":
// every message is compressed and decompressed on its own, so a connection
// keeps no compressor or decompressor state (the LZ77 window and Huffman
// tables) between messages. A connection that negotiated the extension costs
// one flag (Reader.Deflate); compressors and decompressors are pooled and
// held only while a message is being compressed or decompressed, and a
// message to many clients is compressed once (Compressor) and the same
// bytes are written to all of them.

// rsv1 is the "Per-Message Compressed" bit of the first frame header byte.
const rsv1 = 0x40

// maxWindowBits is the LZ77 window of compress/flate (32 KiB), the largest
// RFC 7692 allows.
const maxWindowBits = 15

// FitsWindow reports whether a message of payloadLen bytes, compressed by
// a Compressor, may be sent to a client that negotiated windowBits
// (Handshake.WindowBits; 0 means 15). A Compressor compresses every message
// from a fresh state, so its back-references never reach before the
// message: they fit any window at least as long as the message. A longer
// message goes uncompressed to that client.
func FitsWindow(payloadLen int, windowBits uint8) bool {
	return windowBits == 0 || windowBits >= maxWindowBits || payloadLen <= 1<<windowBits
}

// deflateTail completes a message for the decompressor: the 4 bytes that
// RFC 7692 section 7.2.1 has the sender remove (the end of an empty stored
// block), then an empty final stored block so that the stream ends cleanly
// with io.EOF.
const deflateTail = "\x00\x00\xff\xff\x01\x00\x00\xff\xff"

// negotiateDeflate returns the ws.Upgrader.Negotiate callback accepting the
// first permessage-deflate offer of the client that is well formed (RFC
// 7692 section 7: no unknown, duplicated or invalid parameter; a malformed
// offer is declined, so that the client may fall back to its next offer or
// to no compression). It sets hs.Compressed and answers with both
// no_context_takeover parameters.
//
// server_max_window_bits=N (8 to 15) is accepted and echoed, and recorded
// in hs.WindowBits: the sender then compresses for that client only the
// messages of at most 2^N bytes (FitsWindow). client_max_window_bits (with
// or without a value) needs nothing: the decompressor accepts any window up
// to 32 KiB, so the response leaves it out and the client keeps the window
// it offered. Other extensions are not negotiated.
func negotiateDeflate(hs *Handshake) func(httphead.Option) (httphead.Option, error) {
	return func(opt httphead.Option) (httphead.Option, error) {
		if hs.Compressed || !bytes.EqualFold(opt.Name, wsflate.ExtensionNameBytes) {
			return httphead.Option{}, nil
		}
		var offer wsflate.Parameters
		if err := offer.Parse(opt); err != nil {
			return httphead.Option{}, nil
		}
		resp := wsflate.Parameters{
			ServerNoContextTakeover: true,
			ClientNoContextTakeover: true,
			ServerMaxWindowBits:     offer.ServerMaxWindowBits,
		}
		hs.Compressed, hs.WindowBits = true, maxWindowBits
		if offer.ServerMaxWindowBits.Defined() {
			hs.WindowBits = uint8(offer.ServerMaxWindowBits)
		}
		return resp.Option(), nil
	}
}

// rsvAllowed reports whether the RSV bits of h are those of a compressed
// message's first frame on a connection that negotiated permessage-deflate:
// RSV1 alone, on a text or binary frame (never on a continuation or control
// frame, RFC 7692 section 6).
func (rd *Reader) rsvAllowed(h ws.Header) bool {
	return rd.Deflate && h.Rsv == rsv1>>4 && (h.OpCode == ws.OpText || h.OpCode == ws.OpBinary)
}

// readCompressed reads a frame of a compressed message: it collects the
// compressed payload and, on the final frame, decompresses it. The frame
// size limits apply to the compressed bytes as they arrive (check), and
// MaxMessageSize to the decompressed message too: decompression stops at
// the first byte past it (CloseTooBig), so a small message that inflates to
// gigabytes costs at most MaxMessageSize of memory and the work to produce
// it. Invalid compressed data gives CloseInvalidPayload (the data is not
// what the message says it is, RFC 6455 section 7.4.1), as does invalid
// UTF-8 in a decompressed text message.
func (rd *Reader) readCompressed(r io.Reader, h ws.Header) (Frame, error) {
	if h.OpCode != ws.OpContinuation {
		rd.op, rd.deflated = byte(h.OpCode), true
	}
	var err error
	rd.msg, err = readMasked(r, rd.msg, h, len(deflateTail))
	if err != nil {
		return Frame{}, err
	}
	if !h.Fin {
		return Frame{Kind: KindNone}, nil
	}
	in, binary := append(rd.msg, deflateTail...), rd.op == opBinary
	rd.op, rd.msg, rd.validated, rd.deflated = 0, nil, 0, false
	p, err := inflate(in, rd.Limits.message())
	if err != nil {
		return Frame{}, err
	}
	if !binary && !utf8.Valid(p) {
		return Frame{}, &CloseError{Code: CloseInvalidPayload, Reason: "invalid UTF-8 in text message"}
	}
	return Frame{Kind: KindMessage, Binary: binary, Payload: p}, nil
}

// readMasked reads h.Length payload bytes from r and appends them unmasked
// to dst, growing it as bytes arrive (at most preallocLimit ahead), with
// room for spare more bytes at the end of the last chunk.
func readMasked(r io.Reader, dst []byte, h ws.Header, spare int) ([]byte, error) {
	start := len(dst)
	for remaining := h.Length; remaining > 0; {
		chunk := int(min(remaining, preallocLimit))
		extra := 0
		if int64(chunk) == remaining {
			extra = spare
		}
		dst = slices.Grow(dst, chunk+extra)
		n, err := io.ReadFull(r, dst[len(dst):len(dst)+chunk])
		dst = dst[:len(dst)+n]
		if err != nil {
			if errors.Is(err, io.EOF) {
				err = io.ErrUnexpectedEOF
			}
			return dst, err
		}
		remaining -= int64(n)
	}
	ws.Cipher(dst[start:], h.Mask, 0)
	return dst, nil
}

// inflater is a pooled decompressor. Its state is reset for every message
// (no context takeover).
type inflater struct {
	src bytes.Reader
	fr  io.ReadCloser // a flate.Resetter
}

// inflaters is a cache of decompressors shared by every Reader, so that a
// connection holds one only while it decompresses a message. Like the
// buffer pools of fmt or encoding/json it holds no state of its own: what
// it returns is reset before use.
var inflaters sync.Pool

// errTooBig is the close error of a message past MaxMessageSize.
func errTooBig() error { return &CloseError{Code: CloseTooBig, Reason: "message too big"} }

// inflate decompresses in (a whole compressed message followed by
// deflateTail) into a new buffer of at most limit bytes.
func inflate(in []byte, limit int64) ([]byte, error) {
	z, _ := inflaters.Get().(*inflater)
	if z == nil {
		z = &inflater{}
		z.src.Reset(in)
		z.fr = flate.NewReader(&z.src)
	} else {
		z.src.Reset(in)
		if err := z.fr.(flate.Resetter).Reset(&z.src, nil); err != nil {
			return nil, fmt.Errorf("wsconn: reset decompressor: %w", err)
		}
	}
	defer func() {
		z.src.Reset(nil)
		inflaters.Put(z)
	}()
	// Text compresses well: guess 4x, within the limit.
	out := make([]byte, 0, min(limit+1, int64(max(512, 4*len(in)))))
	for {
		if len(out) == cap(out) {
			out = slices.Grow(out, int(min(int64(cap(out)), limit+1-int64(len(out)))))
		}
		n, err := z.fr.Read(out[len(out):cap(out)])
		out = out[:len(out)+n]
		if int64(len(out)) > limit {
			return nil, errTooBig()
		}
		if errors.Is(err, io.EOF) {
			// The final block: ours from deflateTail, or the client's own.
			return out, nil
		}
		if err != nil {
			return nil, &CloseError{Code: CloseInvalidPayload, Reason: "invalid compressed data"}
		}
	}
}

// DefaultCompressionLevel is the compress/flate level a Compressor uses when
// given 0: flate.BestSpeed. A broadcast is compressed once for all its
// recipients, but a message to one client is compressed for that client
// alone, and BestSpeed costs a fraction of the default level for JSON that
// still shrinks several times.
const DefaultCompressionLevel = flate.BestSpeed

// Compressor compresses outgoing messages for permessage-deflate without
// context takeover: each message on its own, so the same compressed frame
// is valid for every connection that negotiated the extension (with a
// window that fits it, FitsWindow). It pools its flate writers (a few
// hundred KiB each) and is safe for concurrent use.
type Compressor struct {
	level int
	pool  sync.Pool // of *deflater
}

// deflater is a pooled compressor and the buffer it writes into.
type deflater struct {
	fw  *flate.Writer
	out []byte
}

func (d *deflater) Write(p []byte) (int, error) {
	d.out = append(d.out, p...)
	return len(p), nil
}

// maxPooledOutput bounds the output buffer kept with a pooled compressor.
const maxPooledOutput = 64 << 10

// NewCompressor returns a Compressor at a compress/flate level:
// flate.BestSpeed (1) to flate.BestCompression (9), flate.DefaultCompression
// (-1) or flate.HuffmanOnly (-2); 0 means DefaultCompressionLevel.
func NewCompressor(level int) (*Compressor, error) {
	if level == 0 {
		level = DefaultCompressionLevel
	}
	if level < flate.HuffmanOnly || level > flate.BestCompression {
		return nil, fmt.Errorf("wsconn: invalid compression level %d", level)
	}
	return &Compressor{level: level}, nil
}

// AppendMessage appends payload to dst as one final text (or binary) frame
// with its payload compressed and RSV1 set, and returns the extended buffer
// and true. When compressing does not make the payload smaller it returns
// dst unchanged and false, and the caller sends the message uncompressed.
func (z *Compressor) AppendMessage(dst []byte, binary bool, payload []byte) ([]byte, bool) {
	d, _ := z.pool.Get().(*deflater)
	if d == nil {
		d = &deflater{}
		// The level was validated by NewCompressor.
		d.fw, _ = flate.NewWriter(d, z.level)
	} else {
		d.fw.Reset(d)
	}
	defer func() {
		if cap(d.out) > maxPooledOutput {
			d.out = nil
		}
		d.out = d.out[:0]
		z.pool.Put(d)
	}()
	// Writes to d cannot fail.
	_, _ = d.fw.Write(payload)
	_ = d.fw.Flush()
	// A sync flush ends with an empty stored block, 00 00 ff ff, which
	// RFC 7692 section 7.2.1 has the sender remove.
	c := bytes.TrimSuffix(d.out, []byte{0, 0, 0xff, 0xff})
	if len(c) >= len(payload) {
		return dst, false
	}
	op := byte(opText)
	if binary {
		op = opBinary
	}
	return appendFrame(dst, op|rsv1, c), true
}
