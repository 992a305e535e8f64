package wsconn

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/gobwas/ws"
)

// parseServerFrame decodes one unmasked server frame with gobwas/ws.
func parseServerFrame(t *testing.T, b []byte) (ws.Header, []byte) {
	t.Helper()
	r := bytes.NewReader(b)
	h, err := ws.ReadHeader(r)
	if err != nil {
		t.Fatalf(
			"ws.ReadHeader: %v",
			err,
		)
	}
	if h.Masked || !h.Fin || h.Rsv != 0 {
		t.Fatalf(
			"server frame header %+v: want unmasked, final, no RSV",
			h,
		)
	}
	if int64(r.Len()) != h.Length {
		t.Fatalf(
			"payload length %d, header says %d",
			r.Len(), h.Length,
		)
	}
	return h, b[len(b)-r.Len():]
}

func TestAppendMessage(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 127, 0xFFFF, 0x10000, 70000} {
		for _, bin := range []bool{false, true} {
			payload := bytes.Repeat([]byte("a"), n)
			prefix := []byte("prefix")
			out := AppendMessage(append([]byte(nil), prefix...), bin, payload)
			if !bytes.HasPrefix(out, prefix) {
				t.Fatal("AppendMessage lost dst's contents")
			}
			frame := out[len(prefix):]
			if len(frame) != FrameSize(n) {
				t.Fatalf(
					"n=%d: frame of %d bytes, FrameSize says %d",
					n, len(frame), FrameSize(n),
				)
			}
			h, p := parseServerFrame(t, frame)
			wantOp := ws.OpText
			if bin {
				wantOp = ws.OpBinary
			}
			if h.OpCode != wantOp || !bytes.Equal(p, payload) {
				t.Fatalf(
					"n=%d binary=%v: opcode %v, payload %d bytes",
					n, bin, h.OpCode, len(p),
				)
			}
		}
	}
}

func TestFrameSizeHeaderForms(t *testing.T) {
	tests := []struct {
		n, want int
	}{
		{n: 0, want: 2},
		{n: 125, want: 127},
		{n: 126, want: 130},
		{n: 0xFFFF, want: 0xFFFF + 4},
		{n: 0x10000, want: 0x10000 + 10},
	}
	for _, tt := range tests {
		if got := FrameSize(tt.n); got != tt.want {
			t.Errorf(
				"FrameSize(%d) = %d, want %d",
				tt.n, got, tt.want,
			)
		}
	}
}

func TestAppendControl(t *testing.T) {
	long := bytes.Repeat([]byte("z"), 200)
	tests := []struct {
		name string
		out  []byte
		op   ws.OpCode
		want []byte
	}{
		{name: "ping", out: AppendPing(nil, []byte("hb")), op: ws.OpPing, want: []byte("hb")},
		{name: "pong", out: AppendPong(nil, []byte("hb")), op: ws.OpPong, want: []byte("hb")},
		{name: "empty ping", out: AppendPing(nil, nil), op: ws.OpPing, want: nil},
		{name: "long ping truncated", out: AppendPing(nil, long), op: ws.OpPing, want: long[:125]},
		{name: "long pong truncated", out: AppendPong(nil, long), op: ws.OpPong, want: long[:125]},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h, p := parseServerFrame(t, tt.out)
			if h.OpCode != tt.op || !bytes.Equal(p, tt.want) {
				t.Fatalf(
					"opcode %v payload %q, want %v %q",
					h.OpCode, p, tt.op, tt.want,
				)
			}
		})
	}
}

func TestAppendClose(t *testing.T) {
	tests := []struct {
		name       string
		code       uint16
		reason     string
		wantCode   uint16 // 0: empty payload
		wantReason string
	}{
		{name: "normal", code: CloseNormal, reason: "bye", wantCode: 1000, wantReason: "bye"},
		{name: "slow consumer", code: CloseSlowConsumer, wantCode: 4000},
		{name: "exactly 123 bytes", code: 1000, reason: strings.Repeat("r", 123), wantCode: 1000, wantReason: strings.Repeat("r", 123)},
		{name: "ASCII truncated", code: 1008, reason: strings.Repeat("r", 200), wantCode: 1008, wantReason: strings.Repeat("r", 123)},
		// 61 two-byte runes = 122 bytes; the 62nd would end at byte 124.
		{name: "truncated on a rune boundary", code: 1001, reason: strings.Repeat("é", 100), wantCode: 1001, wantReason: strings.Repeat("é", 61)},
		{name: "4-byte runes", code: 1001, reason: strings.Repeat("𝄞", 40), wantCode: 1001, wantReason: strings.Repeat("𝄞", 30)},
		{name: "no status", code: CloseNoStatus, reason: "ignored"},
		{name: "zero", code: 0},
		{name: "1006", code: 1006, reason: "ignored"},
		{name: "1015", code: 1015},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out := AppendClose(nil, tt.code, tt.reason)
			h, p := parseServerFrame(t, out)
			if h.OpCode != ws.OpClose {
				t.Fatalf(
					"opcode %v, want close",
					h.OpCode,
				)
			}
			if tt.wantCode == 0 {
				if len(p) != 0 {
					t.Fatalf(
						"payload %q, want empty",
						p,
					)
				}
				return
			}
			if len(p) > 125 || !utf8.Valid(p[2:]) {
				t.Fatalf(
					"payload of %d bytes, valid UTF-8 %v",
					len(p), utf8.Valid(p[2:]),
				)
			}
			if code := binary.BigEndian.Uint16(p); code != tt.wantCode || string(p[2:]) != tt.wantReason {
				t.Fatalf(
					"close %d %q, want %d %q",
					code, p[2:], tt.wantCode, tt.wantReason,
				)
			}
		})
	}
}

// The frames a server writes are read back by a Reader once masked, as a
// client would send them.
func TestAppendRoundTripThroughReader(t *testing.T) {
	msg := []byte(strings.Repeat("héllo ", 50))
	out := AppendMessage(nil, false, msg)
	h, p := parseServerFrame(t, out)
	var rd Reader
	f, err := rd.ReadFrame(bytes.NewReader(clientFrame(true, 0, byte(h.OpCode), true, p)))
	if err != nil || f.Kind != KindMessage || f.Binary || !bytes.Equal(f.Payload, msg) {
		t.Fatalf(
			"round trip: %v %v binary=%v equal=%v",
			err, f.Kind, f.Binary, bytes.Equal(f.Payload, msg),
		)
	}
}

func TestAppendNoAllocWithCapacity(t *testing.T) {
	payload := make([]byte, 1024)
	dst := make([]byte, 0, FrameSize(len(payload))+FrameSize(0)+FrameSize(2+len("bye")))
	allocs := testing.AllocsPerRun(100, func() {
		out := AppendMessage(dst[:0], true, payload)
		out = AppendPing(out, nil)
		_ = AppendClose(out, 1000, "bye")
	})
	if allocs != 0 {
		t.Fatalf(
			"%v allocations with a big enough dst, want 0",
			allocs,
		)
	}
}

func TestValidCloseCode(t *testing.T) {
	for code := range 5100 {
		want := (code >= 1000 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999)
		if got := ValidCloseCode(uint16(code)); got != want {
			t.Fatalf(
				"ValidCloseCode(%d) = %v, want %v",
				code, got, want,
			)
		}
	}
}
