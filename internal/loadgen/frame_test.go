package loadgen

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"testing"

	"github.com/gobwas/ws"
)

// serverFrame encodes an unmasked frame the way a server sends it.
func serverFrame(t testing.TB, fin bool, op ws.OpCode, p []byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	f := ws.NewFrame(op, fin, p)
	if err := ws.WriteFrame(&buf, f); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

func TestClientFrameIsValid(t *testing.T) {
	for _, n := range []int{0, 5, 125, 126, 70000} {
		p := bytes.Repeat([]byte{'x'}, n)
		raw := appendClientFrame(nil, opText, p, [4]byte{1, 2, 3, 4})
		r := bytes.NewReader(raw)
		h, err := ws.ReadHeader(r)
		if err != nil {
			t.Fatal(err)
		}
		if !h.Fin || h.OpCode != ws.OpText || !h.Masked || h.Length != int64(n) {
			t.Fatalf("n=%d: header %+v", n, h)
		}
		got, _ := io.ReadAll(r)
		ws.Cipher(got, h.Mask, 0)
		if !bytes.Equal(got, p) {
			t.Fatalf("n=%d: payload differs", n)
		}
	}
}

func TestFrameReaderMessages(t *testing.T) {
	var in []byte
	in = append(in, serverFrame(t, true, ws.OpText, []byte("one"))...)
	in = append(in, serverFrame(t, false, ws.OpText, []byte("tw"))...)
	in = append(in, serverFrame(t, true, ws.OpPing, []byte("p"))...) // between fragments
	in = append(in, serverFrame(t, true, ws.OpContinuation, []byte("o"))...)
	in = append(in, serverFrame(t, true, ws.OpBinary, bytes.Repeat([]byte{'z'}, 300))...)
	in = append(in, serverFrame(t, true, ws.OpClose, nil)...)
	fr := newFrameReader(bufio.NewReader(bytes.NewReader(in)), 1024)
	want := []struct {
		op byte
		p  string
	}{{opText, "one"}, {opPing, "p"}, {opText, "two"}, {opBinary, string(bytes.Repeat([]byte{'z'}, 300))}, {opClose, ""}}
	for i, w := range want {
		op, p, err := fr.next()
		if err != nil || op != w.op || string(p) != w.p {
			t.Fatalf("frame %d: op %#x %q %v, want %#x %q", i, op, p, err, w.op, w.p)
		}
	}
	if _, _, err := fr.next(); !errors.Is(err, io.EOF) {
		t.Fatalf("after the end: %v", err)
	}
}

func TestFrameReaderRejects(t *testing.T) {
	for name, in := range map[string][]byte{
		"too large":      serverFrame(t, true, ws.OpText, make([]byte, 2000)),
		"lone cont":      serverFrame(t, true, ws.OpContinuation, []byte("x")),
		"long control":   {0x89, 126, 0, 200},
		"bad opcode":     serverFrame(t, true, ws.OpCode(0x3), []byte("x")),
		"nested message": append(serverFrame(t, false, ws.OpText, []byte("a")), serverFrame(t, true, ws.OpText, []byte("b"))...),
	} {
		fr := newFrameReader(bufio.NewReader(bytes.NewReader(in)), 1024)
		var err error
		for err == nil {
			_, _, err = fr.next()
		}
		if !errors.Is(err, ErrBadFrame) && !errors.Is(err, ErrFrameTooLarge) {
			t.Errorf("%s: err %v", name, err)
		}
	}
}

func FuzzFrameReader(f *testing.F) {
	f.Add(serverFrame(f, true, ws.OpText, []byte("hello")))
	f.Add(append(serverFrame(f, false, ws.OpText, []byte("a")), serverFrame(f, true, ws.OpContinuation, []byte("b"))...))
	f.Add([]byte{0x81, 0xfe, 0x00, 0x05, 1, 2, 3, 4, 'a', 'b', 'c', 'd', 'e'})
	f.Add([]byte{0x82, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff})
	f.Fuzz(func(t *testing.T, in []byte) {
		fr := newFrameReader(bufio.NewReader(bytes.NewReader(in)), 4096)
		for range 100 {
			op, p, err := fr.next()
			if err != nil {
				return
			}
			if len(p) > 4096 || (op >= opClose && len(p) > maxControlPayload) {
				t.Fatalf("op %#x payload %d bytes past the limit", op, len(p))
			}
		}
	})
}

func BenchmarkFrameReader(b *testing.B) {
	one := serverFrame(b, true, ws.OpText, AppendPayload(nil, Message{}, 32))
	in := bytes.Repeat(one, 1024)
	r := bytes.NewReader(in)
	br := bufio.NewReaderSize(r, 1024)
	fr := newFrameReader(br, 1024)
	b.ReportAllocs()
	b.SetBytes(int64(len(one)))
	for i := 0; b.Loop(); i++ {
		if i%1024 == 0 {
			r.Reset(in)
			br.Reset(r)
		}
		if _, p, err := fr.next(); err != nil || len(p) != 32 {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncodeMessage(b *testing.B) {
	body := make([]byte, 0, 64)
	frame := make([]byte, 0, 128)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		body = AppendPayload(body[:0], Message{Sender: 1, Seq: i, Sent: int64(i)}, 32)
		frame = appendClientFrame(frame[:0], opText, body, [4]byte{9, 8, 7, 6})
	}
}

func BenchmarkEncodeCentrifugePublish(b *testing.B) {
	body := make([]byte, 0, 128)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		body = appendCentrifugePublish(body[:0], uint64(i), "chat", Message{Sender: 1, Seq: i}, 32)
	}
}
