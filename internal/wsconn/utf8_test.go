package wsconn

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// errMustNotRead is returned by stallReader once its input is used up: a
// reader that fails fast never asks for the bytes that have not arrived.
var errMustNotRead = errors.New("read past the bytes that arrived")

// stallReader delivers its input in reads of at most chunk bytes, then fails
// with errMustNotRead, as a socket whose peer has sent only part of a frame
// would block.
type stallReader struct {
	in    []byte
	chunk int
}

func (r *stallReader) Read(p []byte) (int, error) {
	if len(r.in) == 0 {
		return 0, errMustNotRead
	}
	n := min(len(p), len(r.in))
	if r.chunk > 0 {
		n = min(n, r.chunk)
	}
	n = copy(p, r.in[:n])
	r.in = r.in[n:]
	return n, nil
}

func wantInvalidPayload(t *testing.T, err error) {
	t.Helper()
	var ce *CloseError
	if !errors.As(err, &ce) || ce.Code != CloseInvalidPayload {
		t.Fatalf("err = %v, want a CloseError %d", err, CloseInvalidPayload)
	}
}

// Invalid UTF-8 fails as soon as its first byte arrives: inside one frame
// whose rest is still on its way, in a later fragment, and in a code point
// split between reads that turns out invalid.
func TestReadFrameUTF8FailFast(t *testing.T) {
	valid := bytes.Repeat([]byte("aé€"), 100) // 600 bytes
	tests := []struct {
		name string
		// frames are whole frames, arrived is how many of their bytes have
		// arrived (the rest never comes).
		frames  []byte
		arrived int
		chunk   int
		reads   int // ReadFrame calls before the failing one
	}{
		{
			name: "inside one frame, rest not sent",
			frames: masked(opText, append(append(append([]byte(nil), valid[:99]...), 0xff),
				bytes.Repeat([]byte("a"), 1000)...)),
			arrived: 4 + 4 + 100, // header (16-bit length), mask, 100 payload bytes
		},
		{
			name: "inside one frame in small reads",
			frames: masked(opText, append(append(append([]byte(nil), valid[:30]...), 0xc0, 0x80),
				bytes.Repeat([]byte("a"), 1000)...)),
			arrived: 4 + 4 + 33,
			chunk:   7,
		},
		{
			name: "code point split between reads, invalid second byte",
			frames: masked(opText, append(append([]byte("abc"), 0xe2, 0x28),
				bytes.Repeat([]byte("a"), 200)...)),
			arrived: 4 + 4 + 5,
			chunk:   4,
		},
		{
			name: "a later fragment, rest not sent",
			frames: concat(fragment(false, opText, string(valid[:100])),
				clientFrame(false, 0, opContinuation, true, append([]byte{0xf4, 0x90}, valid...))),
			arrived: 2 + 4 + 100 + 4 + 4 + 2,
			reads:   1,
		},
		{
			name: "code point split between fragments",
			frames: concat(fragment(false, opText, "ab\xf0\x9f"),
				clientFrame(false, 0, opContinuation, true, append([]byte{0x28}, valid...))),
			arrived: 2 + 4 + 4 + 4 + 4 + 1,
			reads:   1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &stallReader{in: tt.frames[:tt.arrived], chunk: tt.chunk}
			rd := Reader{Limits: Limits{MaxMessageSize: 1 << 20}}
			for range tt.reads {
				if _, err := rd.ReadFrame(r); err != nil {
					t.Fatalf("earlier frame: %v", err)
				}
			}
			_, err := rd.ReadFrame(r)
			wantInvalidPayload(t, err)
		})
	}
}

// A valid text message in any read size and fragmentation passes, and a
// code point cut at the end of the final fragment fails.
func TestReadFrameUTF8Chunked(t *testing.T) {
	msg := []byte("héllo wörld 😀 € ok")
	for chunk := 1; chunk <= 8; chunk++ {
		for split := 0; split <= len(msg); split++ {
			in := concat(clientFrame(false, 0, opText, true, msg[:split]),
				clientFrame(true, 0, opContinuation, true, msg[split:]))
			r := &stallReader{in: in, chunk: chunk}
			var rd Reader
			var got Frame
			for got.Kind != KindMessage {
				f, err := rd.ReadFrame(r)
				if err != nil {
					t.Fatalf("chunk %d split %d: %v", chunk, split, err)
				}
				got = f
			}
			if !bytes.Equal(got.Payload, msg) {
				t.Fatalf("chunk %d split %d: payload %q", chunk, split, got.Payload)
			}
		}
	}
	// Truncated code point at the end of the message.
	for _, in := range [][]byte{
		masked(opText, []byte("ab\xe2\x82")),
		concat(fragment(false, opText, "ab\xe2\x82"), fragment(true, opContinuation, "")),
	} {
		var rd Reader
		var err error
		r := &stallReader{in: in, chunk: 3}
		for err == nil {
			_, err = rd.ReadFrame(r)
		}
		if errors.Is(err, errMustNotRead) || errors.Is(err, io.EOF) {
			t.Fatalf("truncated code point accepted: %v", err)
		}
		wantInvalidPayload(t, err)
	}
}
