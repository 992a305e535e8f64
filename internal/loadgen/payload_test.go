package loadgen

import (
	"bytes"
	"errors"
	"testing"
)

func TestPayloadRoundTrip(t *testing.T) {
	for _, m := range []Message{
		{},
		{Sender: 7, Seq: 42, Sent: 123456789},
		{Sender: 1<<32 - 1, Seq: 1<<32 - 1, Sent: 1<<63 - 1},
	} {
		for _, size := range []int{0, PayloadSize, 100} {
			b := AppendPayload(nil, m, size)
			if want := max(size, PayloadSize); len(b) != want {
				t.Fatalf("size %d: encoded %d bytes, want %d", size, len(b), want)
			}
			got, err := ParsePayload(b)
			if err != nil || got != m {
				t.Fatalf("round trip of %+v: %+v, %v", m, got, err)
			}
		}
	}
}

func TestParsePayloadRejects(t *testing.T) {
	for _, b := range [][]byte{nil, []byte("short"), bytes.Repeat([]byte("g"), PayloadSize)} {
		if _, err := ParsePayload(b); !errors.Is(err, ErrBadPayload) {
			t.Errorf("%q: err %v, want ErrBadPayload", b, err)
		}
	}
}

func FuzzParsePayload(f *testing.F) {
	f.Add(AppendPayload(nil, Message{Sender: 1, Seq: 2, Sent: 3}, 40))
	f.Add([]byte("0000000000000000000000000000000z"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		m, err := ParsePayload(b)
		if err != nil {
			return
		}
		again := AppendPayload(nil, m, 0)
		if !bytes.Equal(again, b[:PayloadSize]) {
			t.Fatalf("parsed %q to %+v, which encodes to %q", b[:PayloadSize], m, again)
		}
	})
}

func BenchmarkAppendPayload(b *testing.B) {
	buf := make([]byte, 0, 64)
	b.ReportAllocs()
	var i uint32
	for b.Loop() {
		i++
		buf = AppendPayload(buf[:0], Message{Sender: i, Seq: i, Sent: int64(i)}, 64)
	}
}

func BenchmarkParsePayload(b *testing.B) {
	p := AppendPayload(nil, Message{Sender: 3, Seq: 99, Sent: 1 << 40}, 32)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := ParsePayload(p); err != nil {
			b.Fatal(err)
		}
	}
}
