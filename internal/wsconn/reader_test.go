package wsconn

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"testing/iotest"
)

func TestReadFrameSingle(t *testing.T) {
	long := bytes.Repeat([]byte("x"), 70000) // 64-bit length form, chunked read
	tests := []struct {
		name  string
		in    []byte
		limit Limits
		want  Frame
	}{
		{
			name: "text",
			in:   masked(opText, []byte("hello")),
			want: Frame{Kind: KindMessage, Payload: []byte("hello")},
		},
		{
			name: "empty text",
			in:   masked(opText, nil),
			want: Frame{Kind: KindMessage},
		},
		{
			name: "binary with invalid UTF-8 is fine",
			in:   masked(opBinary, []byte{0xff, 0xfe}),
			want: Frame{Kind: KindMessage, Binary: true, Payload: []byte{0xff, 0xfe}},
		},
		{
			name: "text of 300 bytes, 16-bit length",
			in:   masked(opText, bytes.Repeat([]byte("é"), 150)),
			want: Frame{Kind: KindMessage, Payload: bytes.Repeat([]byte("é"), 150)},
		},
		{
			name: "binary of 70000 bytes, 64-bit length",
			in:   masked(opBinary, long),
			want: Frame{Kind: KindMessage, Binary: true, Payload: long},
		},
		{
			name:  "frame exactly at the limit",
			in:    masked(opText, []byte("12345678")),
			limit: Limits{MaxFrameSize: 8, MaxMessageSize: 8},
			want:  Frame{Kind: KindMessage, Payload: []byte("12345678")},
		},
		{
			name: "ping of 125 bytes",
			in:   masked(opPing, bytes.Repeat([]byte("p"), 125)),
			want: Frame{Kind: KindPing, Payload: bytes.Repeat([]byte("p"), 125)},
		},
		{
			name: "pong",
			in:   masked(opPong, []byte("hb")),
			want: Frame{Kind: KindPong, Payload: []byte("hb")},
		},
		{
			name: "close without payload",
			in:   masked(opClose, nil),
			want: Frame{Kind: KindClose, CloseCode: CloseNoStatus},
		},
		{
			name: "close 1000 with reason",
			in:   masked(opClose, closePayload(1000, "bye ✓")),
			want: Frame{Kind: KindClose, CloseCode: 1000, CloseReason: "bye ✓"},
		},
		{
			name: "close 1014",
			in:   masked(opClose, closePayload(1014, "")),
			want: Frame{Kind: KindClose, CloseCode: 1014},
		},
		{
			name: "close 3000",
			in:   masked(opClose, closePayload(3000, "")),
			want: Frame{Kind: KindClose, CloseCode: 3000},
		},
		{
			name: "close 4999",
			in:   masked(opClose, closePayload(4999, "")),
			want: Frame{Kind: KindClose, CloseCode: 4999},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := Reader{Limits: tt.limit}
			got, err := rd.ReadFrame(bytes.NewReader(tt.in))
			if err != nil {
				t.Fatalf(
					"ReadFrame: %v",
					err,
				)
			}
			if got.Kind != tt.want.Kind || got.Binary != tt.want.Binary ||
				!bytes.Equal(got.Payload, tt.want.Payload) ||
				got.CloseCode != tt.want.CloseCode || got.CloseReason != tt.want.CloseReason {
				t.Fatalf(
					"got %v binary=%v len=%d code=%d reason=%q, want %v binary=%v len=%d code=%d reason=%q",
					got.Kind, got.Binary, len(got.Payload), got.CloseCode, got.CloseReason,
					tt.want.Kind, tt.want.Binary, len(tt.want.Payload), tt.want.CloseCode, tt.want.CloseReason,
				)
			}
			if rd.Fragmenting() {
				t.Fatal("Fragmenting after a whole frame")
			}
		})
	}
}

func TestReadFrameViolations(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		limit Limits
		code  uint16
	}{
		{
			name: "unmasked",
			in:   clientFrame(true, 0, opText, false, []byte("hi")),
			code: CloseProtocolError,
		},
		{
			name: "RSV1",
			in:   clientFrame(true, 4, opText, true, []byte("hi")),
			code: CloseProtocolError,
		},
		{
			name: "RSV2",
			in:   clientFrame(true, 2, opBinary, true, []byte("hi")),
			code: CloseProtocolError,
		},
		{
			name: "RSV3 on a ping",
			in:   clientFrame(true, 1, opPing, true, nil),
			code: CloseProtocolError,
		},
		{
			name: "continuation without a start",
			in:   fragment(true, opContinuation, "x"),
			code: CloseProtocolError,
		},
		{
			name: "fragmented ping",
			in:   fragment(false, opPing, "x"),
			code: CloseProtocolError,
		},
		{
			name: "ping of 126 bytes",
			in:   masked(opPing, bytes.Repeat([]byte("p"), 126)),
			code: CloseProtocolError,
		},
		{
			name: "close of 126 bytes",
			in:   masked(opClose, closePayload(1000, strings.Repeat("r", 124))),
			code: CloseProtocolError,
		},
		{
			name: "close payload of 1 byte",
			in:   masked(opClose, []byte{3}),
			code: CloseProtocolError,
		},
		{
			name: "close reason not UTF-8",
			in:   masked(opClose, closePayload(1000, "\xc3\x28")),
			code: CloseInvalidPayload,
		},
		{
			name: "text not UTF-8",
			in:   masked(opText, []byte("ok\xff")),
			code: CloseInvalidPayload,
		},
		{
			name: "text with a surrogate",
			in:   masked(opText, []byte("\xed\xa0\x80")),
			code: CloseInvalidPayload,
		},
		{
			name: "text ends in an incomplete code point",
			in:   masked(opText, []byte("\xe2\x82")),
			code: CloseInvalidPayload,
		},
		{
			name:  "frame over MaxFrameSize",
			in:    masked(opBinary, []byte("123456789")),
			limit: Limits{MaxFrameSize: 8},
			code:  CloseTooBig,
		},
		{
			name:  "frame over MaxMessageSize",
			in:    masked(opBinary, []byte("123456789")),
			limit: Limits{MaxMessageSize: 8},
			code:  CloseTooBig,
		},
		{
			name: "frame over the default MaxFrameSize",
			in:   []byte{0x82, 0xff, 0, 0, 0, 0, 0, 0x10, 0, 1, 1, 2, 3, 4}, // 1 MiB + 1, no payload follows
			code: CloseTooBig,
		},
		{
			name: "64-bit length with the most significant bit set",
			in:   []byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4},
			code: CloseProtocolError,
		},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		tests = append(tests, struct {
			name  string
			in    []byte
			limit Limits
			code  uint16
		}{
			name: "reserved opcode " + string("0123456789ABCDEF"[op]),
			in:   masked(op, nil),
			code: CloseProtocolError,
		})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		tests = append(tests, struct {
			name  string
			in    []byte
			limit Limits
			code  uint16
		}{
			name: "close code " + itoa(int(code)),
			in:   masked(opClose, closePayload(code, "")),
			code: CloseProtocolError,
		})
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := Reader{Limits: tt.limit}
			_, err := rd.ReadFrame(bytes.NewReader(tt.in))
			var ce *CloseError
			if !errors.As(err, &ce) {
				t.Fatalf(
					"ReadFrame error = %v, want *CloseError %d",
					err, tt.code,
				)
			}
			if ce.Code != tt.code {
				t.Fatalf(
					"close code = %d (%s), want %d",
					ce.Code, ce.Reason, tt.code,
				)
			}
		})
	}
}

func itoa(n int) string {
	if n == 0 {
		return "0"
	}
	var b []byte
	for ; n > 0; n /= 10 {
		b = append([]byte{byte('0' + n%10)}, b...)
	}
	return string(b)
}

// headerOnlyReader serves a frame header and fails the test if more is read.
type headerOnlyReader struct {
	t   *testing.T
	hdr []byte
}

func (r *headerOnlyReader) Read(p []byte) (int, error) {
	if len(r.hdr) == 0 {
		r.t.Error("payload read after a header over the limits")
		return 0, io.ErrUnexpectedEOF
	}
	n := copy(p, r.hdr)
	r.hdr = r.hdr[n:]
	return n, nil
}

func TestReadFrameLimitCheckedOnHeader(t *testing.T) {
	tests := []struct {
		name  string
		pre   []byte // frames accepted before the offending header
		hdr   []byte
		limit Limits
	}{
		{
			name:  "frame",
			hdr:   []byte{0x82, 0xfe, 0x10, 0x00, 1, 2, 3, 4}, // 4096 bytes declared
			limit: Limits{MaxFrameSize: 4095},
		},
		{
			name:  "message",
			pre:   fragment(false, opBinary, "0123456789"),
			hdr:   []byte{0x80, 0x80 | 100, 1, 2, 3, 4}, // continuation of 100: total 110
			limit: Limits{MaxMessageSize: 100},
		},
		{
			name: "default, 2^62 declared",
			hdr:  []byte{0x81, 0xff, 0x40, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := Reader{Limits: tt.limit}
			if len(tt.pre) > 0 {
				if _, err := rd.ReadFrame(bytes.NewReader(tt.pre)); err != nil {
					t.Fatal(err)
				}
			}
			allocs := testing.AllocsPerRun(10, func() {
				_, err := rd.ReadFrame(&headerOnlyReader{t: t, hdr: tt.hdr})
				var ce *CloseError
				if !errors.As(err, &ce) || ce.Code != CloseTooBig {
					t.Fatalf(
						"error = %v, want close %d",
						err, CloseTooBig,
					)
				}
			})
			if allocs > 3 { // the reader, the error: never the payload
				t.Fatalf(
					"%v allocations refusing a frame over the limit",
					allocs,
				)
			}
		})
	}
}

func TestReadFrameIOErrors(t *testing.T) {
	var rd Reader
	if _, err := rd.ReadFrame(bytes.NewReader(nil)); err != io.EOF {
		t.Fatalf(
			"empty input: %v, want io.EOF",
			err,
		)
	}
	full := masked(opText, []byte("hello"))
	for cut := 1; cut < len(full); cut++ {
		var rd Reader
		_, err := rd.ReadFrame(bytes.NewReader(full[:cut]))
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf(
				"cut at %d: %v, want io.ErrUnexpectedEOF",
				cut, err,
			)
		}
	}
	// A long payload cut short, read in chunks.
	big := masked(opBinary, make([]byte, 100000))
	rd = Reader{}
	if _, err := rd.ReadFrame(bytes.NewReader(big[:50000])); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf(
			"long payload cut short: %v, want io.ErrUnexpectedEOF",
			err,
		)
	}
	boom := errors.New("boom")
	rd = Reader{}
	if _, err := rd.ReadFrame(io.MultiReader(bytes.NewReader(full[:4]), iotest.ErrReader(boom))); err != boom {
		t.Fatalf(
			"error = %v, want the reader's own error",
			err,
		)
	}
}

// step is one expected ReadFrame result in a sequence.
type step struct {
	kind    Kind
	payload string
	binary  bool
	code    uint16 // a *CloseError code expected instead of a frame
	frag    bool   // Fragmenting() after the step
}

func TestReadFrameSequences(t *testing.T) {
	tests := []struct {
		name  string
		in    []byte
		limit Limits
		steps []step
	}{
		{
			name: "fragmented text",
			in:   concat(fragment(false, opText, "Hel"), fragment(false, opContinuation, "lo, "), fragment(true, opContinuation, "world")),
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindNone, frag: true},
				{kind: KindMessage, payload: "Hello, world"},
			},
		},
		{
			name: "fragmented binary with empty fragments",
			in:   concat(fragment(false, opBinary, ""), fragment(false, opContinuation, "\xff"), fragment(true, opContinuation, "")),
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindNone, frag: true},
				{kind: KindMessage, payload: "\xff", binary: true},
			},
		},
		{
			name: "control frames inside a fragmented message",
			in: concat(fragment(false, opText, "a"), masked(opPing, []byte("p1")), fragment(false, opContinuation, "b"),
				masked(opPong, []byte("p2")), fragment(true, opContinuation, "c")),
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindPing, payload: "p1", frag: true},
				{kind: KindNone, frag: true},
				{kind: KindPong, payload: "p2", frag: true},
				{kind: KindMessage, payload: "abc"},
			},
		},
		{
			name: "close inside a fragmented message",
			in:   concat(fragment(false, opText, "a"), masked(opClose, closePayload(1001, "away"))),
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindClose, frag: true},
			},
		},
		{
			name: "code point split between fragments",
			in:   concat(fragment(false, opText, "€"[:1]), fragment(false, opContinuation, "€"[1:2]), fragment(true, opContinuation, "€"[2:]+"𝄞")),
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindNone, frag: true},
				{kind: KindMessage, payload: "€𝄞"},
			},
		},
		{
			name: "4-byte code point split 3+1",
			in:   concat(fragment(false, opText, "x"+"𝄞"[:3]), fragment(true, opContinuation, "𝄞"[3:])),
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindMessage, payload: "x𝄞"},
			},
		},
		{
			name: "invalid UTF-8 fails on the first fragment",
			in:   concat(fragment(false, opText, "ok\xc0\xaf"), fragment(true, opContinuation, "rest")),
			steps: []step{
				{code: CloseInvalidPayload},
			},
		},
		{
			name: "invalid prefix at a fragment end fails fast",
			in:   concat(fragment(false, opText, "ok\xed\xa0"), fragment(true, opContinuation, "\x80")),
			steps: []step{
				{code: CloseInvalidPayload},
			},
		},
		{
			name: "final fragment ends inside a code point",
			in:   concat(fragment(false, opText, "ok"), fragment(true, opContinuation, "\xf0\x9d")),
			steps: []step{
				{kind: KindNone, frag: true},
				{code: CloseInvalidPayload},
			},
		},
		{
			name: "split code point completed wrongly",
			in:   concat(fragment(false, opText, "\xe2\x82"), fragment(true, opContinuation, "x")),
			steps: []step{
				{kind: KindNone, frag: true},
				{code: CloseInvalidPayload},
			},
		},
		{
			name: "new text frame inside a fragmented message",
			in:   concat(fragment(false, opText, "a"), fragment(true, opText, "b")),
			steps: []step{
				{kind: KindNone, frag: true},
				{code: CloseProtocolError},
			},
		},
		{
			name: "new binary frame inside a fragmented message",
			in:   concat(fragment(false, opBinary, "a"), fragment(false, opBinary, "b")),
			steps: []step{
				{kind: KindNone, frag: true},
				{code: CloseProtocolError},
			},
		},
		{
			name:  "fragments over MaxMessageSize",
			in:    concat(fragment(false, opBinary, "12345"), fragment(false, opContinuation, "12345"), fragment(true, opContinuation, "1")),
			limit: Limits{MaxMessageSize: 10},
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindNone, frag: true},
				{code: CloseTooBig},
			},
		},
		{
			name:  "fragments each under MaxFrameSize",
			in:    concat(fragment(false, opBinary, "1234"), fragment(true, opContinuation, "5678")),
			limit: Limits{MaxFrameSize: 4},
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindMessage, payload: "12345678", binary: true},
			},
		},
		{
			name: "messages after a fragmented one",
			in:   concat(fragment(false, opText, "a"), fragment(true, opContinuation, "b"), masked(opText, []byte("c"))),
			steps: []step{
				{kind: KindNone, frag: true},
				{kind: KindMessage, payload: "ab"},
				{kind: KindMessage, payload: "c"},
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rd := Reader{Limits: tt.limit}
			r := bytes.NewReader(tt.in)
			for i, st := range tt.steps {
				f, err := rd.ReadFrame(r)
				if st.code != 0 {
					var ce *CloseError
					if !errors.As(err, &ce) || ce.Code != st.code {
						t.Fatalf(
							"step %d: error %v, want close %d",
							i, err, st.code,
						)
					}
					return
				}
				if err != nil {
					t.Fatalf(
						"step %d: %v",
						i, err,
					)
				}
				if f.Kind != st.kind || string(f.Payload) != st.payload || f.Binary != st.binary {
					t.Fatalf(
						"step %d: got %v %q binary=%v, want %v %q binary=%v",
						i, f.Kind, f.Payload, f.Binary, st.kind, st.payload, st.binary,
					)
				}
				if rd.Fragmenting() != st.frag {
					t.Fatalf(
						"step %d: Fragmenting() = %v, want %v",
						i, rd.Fragmenting(), st.frag,
					)
				}
			}
			if r.Len() != 0 {
				t.Fatalf(
					"%d bytes left unread",
					r.Len(),
				)
			}
		})
	}
}

func TestReadFramePayloadOwnedByCaller(t *testing.T) {
	in := concat(fragment(false, opBinary, "ab"), fragment(true, opContinuation, "cd"), masked(opBinary, []byte("ef")),
		fragment(false, opBinary, "gh"), fragment(true, opContinuation, "ij"))
	var rd Reader
	r := bytes.NewReader(in)
	var msgs [][]byte
	for r.Len() > 0 {
		f, err := rd.ReadFrame(r)
		if err != nil {
			t.Fatal(err)
		}
		if f.Kind == KindMessage {
			msgs = append(msgs, f.Payload)
		}
	}
	got := string(bytes.Join(msgs, []byte(",")))
	if got != "abcd,ef,ghij" {
		t.Fatalf(
			"messages = %q, want abcd,ef,ghij (a payload was overwritten)",
			got,
		)
	}
	if rd.msg != nil {
		t.Fatal("Reader keeps a buffer after the message completed")
	}
}

func TestKindString(t *testing.T) {
	want := map[Kind]string{KindNone: "none", KindMessage: "message", KindPing: "ping", KindPong: "pong", KindClose: "close", Kind(9): "unknown"}
	for k, s := range want {
		if k.String() != s {
			t.Errorf(
				"Kind(%d).String() = %q, want %q",
				k, k.String(), s,
			)
		}
	}
}
