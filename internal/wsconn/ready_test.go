package wsconn

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// readyAgrees walks data frame by frame and checks, before each frame,
// that Ready(rest) says exactly whether ReadFrame can finish on rest
// without running out of input, except that Ready may be false for a
// partial text frame whose bytes so far are invalid UTF-8 (ReadFrame fails
// on them at once; Ready does not unmask payloads).
func readyAgrees(t *testing.T, rd *Reader, data []byte) {
	t.Helper()
	for off := 0; ; {
		rest := data[off:]
		ready := rd.Ready(rest)
		r := bytes.NewReader(rest)
		_, err := rd.ReadFrame(r)
		short := errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
		var ce *CloseError
		if !ready && errors.As(err, &ce) && ce.Code == CloseInvalidPayload {
			return // failed fast on a partial frame: allowed
		}
		if ready == short {
			t.Fatalf("at offset %d (%x): Ready %v but ReadFrame: %v", off, rest[:min(len(rest), 16)], ready, err)
		}
		if err != nil {
			return
		}
		off += len(rest) - r.Len()
	}
}

func TestReadyMatchesReadFrame(t *testing.T) {
	limits := Limits{MaxFrameSize: 300, MaxMessageSize: 500}
	stream := concat(
		masked(opText, []byte("hello")),
		fragment(false, opText, "ab"),
		masked(opPing, []byte("p")),
		fragment(true, opContinuation, "cd"),
		masked(opBinary, bytes.Repeat([]byte{1}, 200)), // 16-bit length
		masked(opClose, closePayload(1000, "")),
	)
	// Every prefix: Ready is false until a frame is whole.
	for n := range len(stream) + 1 {
		readyAgrees(t, &Reader{Limits: limits}, stream[:n])
	}
	// Headers refused on their own are Ready once the whole header (mask
	// key included) is there, with no payload at all.
	mask := testMask[:]
	for _, hdr := range [][]byte{
		append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, mask...), // 64-bit length, MSB set
		append([]byte{0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0}, mask...), // 1 GiB: too big
		{0x82, 0x05},                                // unmasked
		append([]byte{0xc2, 0x85}, mask...),         // RSV1
		append([]byte{0x83, 0x85}, mask...),         // reserved opcode
		append([]byte{0x09, 0x85}, mask...),         // fragmented ping
		append([]byte{0x89, 0xfe, 0, 126}, mask...), // ping over 125 bytes
		append([]byte{0x80, 0x85}, mask...),         // continuation without a start
	} {
		rd := Reader{Limits: limits}
		if !rd.Ready(hdr) {
			t.Errorf("%x: not Ready", hdr)
		}
		if hdr[1]&0x80 != 0 && rd.Ready(hdr[:len(hdr)-1]) {
			t.Errorf("%x: Ready without the whole mask key", hdr)
		}
		readyAgrees(t, &rd, hdr)
	}
	var rd Reader
	for _, partial := range [][]byte{nil, {0x81}, {0x81, 0xfe, 0}, {0x81, 0xff, 0, 0, 0}, {0x81, 0x85, 1, 2, 3}} {
		if rd.Ready(partial) {
			t.Errorf("%x: Ready with an incomplete header", partial)
		}
	}
}

func FuzzReady(f *testing.F) {
	f.Add(concat(masked(opText, []byte("hi")), fragment(false, opBinary, "x"), masked(opPong, nil)))
	f.Add([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1})
	f.Add([]byte{0x81, 0xfe, 0, 200, 1, 2, 3, 4, 'a'})
	f.Fuzz(func(t *testing.T, data []byte) {
		readyAgrees(t, &Reader{Limits: Limits{MaxFrameSize: 256, MaxMessageSize: 512}}, data)
	})
}

func BenchmarkReady(b *testing.B) {
	frame := masked(opText, bytes.Repeat([]byte("x"), 100))
	var rd Reader
	b.ReportAllocs()
	for b.Loop() {
		if !rd.Ready(frame) {
			b.Fatal("not ready")
		}
	}
}
