package proxyproto

import (
	"bytes"
	"errors"
	"io"
	"net/netip"
	"strings"
	"testing"
)

// oneByteReader returns at most one byte per Read, so a test sees any
// reading past the header.
type oneByteReader struct{ r io.Reader }

func (o oneByteReader) Read(p []byte) (int, error) {
	if len(p) > 1 {
		p = p[:1]
	}
	return o.r.Read(p)
}

func TestRead(t *testing.T) {
	src4, dst4 := netip.MustParseAddrPort("203.0.113.7:51234"), netip.MustParseAddrPort("10.0.0.1:443")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:80")
	tests := []struct {
		name string
		in   []byte
		want Header
	}{
		{"v1 TCP4", AppendV1(nil, src4, dst4), Header{Version: 1, Source: src4, Destination: dst4}},
		{"v1 TCP6", AppendV1(nil, src6, dst6), Header{Version: 1, Source: src6, Destination: dst6}},
		{"v1 UNKNOWN", []byte("PROXY UNKNOWN\r\n"), Header{Version: 1, Local: true}},
		{"v1 UNKNOWN with addresses", []byte("PROXY UNKNOWN ffff::1 ffff::2 1 2\r\n"), Header{Version: 1, Local: true}},
		{"v2 IPv4", AppendV2(nil, src4, dst4, nil), Header{Version: 2, Source: src4, Destination: dst4}},
		{"v2 IPv6", AppendV2(nil, src6, dst6, nil), Header{Version: 2, Source: src6, Destination: dst6}},
		{"v2 with TLVs", AppendV2(nil, src4, dst4, []byte{0x04, 0x00, 0x03, 'a', 'b', 'c'}), Header{Version: 2, Source: src4, Destination: dst4}},
		{"v2 LOCAL", AppendV2Local(nil), Header{Version: 2, Local: true}},
		{"v2 UDP is local", append(append([]byte(nil), v2Signature...), 0x21, 0x12, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2), Header{Version: 2, Local: true}},
		{"v2 unix is local", append(append([]byte(nil), v2Signature...), 0x21, 0x31, 0, 0), Header{Version: 2, Local: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rest := []byte("GET / HTTP/1.1\r\n")
			r := bytes.NewReader(append(append([]byte(nil), tt.in...), rest...))
			h, err := Read(oneByteReader{r})
			if err != nil {
				t.Fatal(err)
			}
			if h != tt.want {
				t.Fatalf("got %+v, want %+v", h, tt.want)
			}
			if left, _ := io.ReadAll(r); !bytes.Equal(left, rest) {
				t.Fatalf("the bytes after the header: %q", left)
			}
		})
	}
}

func TestReadInvalid(t *testing.T) {
	long := "PROXY TCP4 " + strings.Repeat("1", 100) + "\r\n"
	big := append(append([]byte(nil), v2Signature...), 0x21, 0x11, 0xff, 0xff)
	tests := map[string][]byte{
		"HTTP request":        []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"),
		"v1 too long":         []byte(long),
		"v1 LF only":          []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n"),
		"v1 TCP4 with IPv6":   []byte("PROXY TCP4 ::1 ::2 1 2\r\n"),
		"v1 TCP6 with IPv4":   []byte("PROXY TCP6 1.2.3.4 5.6.7.8 1 2\r\n"),
		"v1 port too big":     []byte("PROXY TCP4 1.2.3.4 5.6.7.8 65536 2\r\n"),
		"v1 port leading 0":   []byte("PROXY TCP4 1.2.3.4 5.6.7.8 01 2\r\n"),
		"v1 port sign":        []byte("PROXY TCP4 1.2.3.4 5.6.7.8 +1 2\r\n"),
		"v1 missing field":    []byte("PROXY TCP4 1.2.3.4 5.6.7.8 1\r\n"),
		"v1 double space":     []byte("PROXY TCP4  1.2.3.4 5.6.7.8 1 2\r\n"),
		"v1 other protocol":   []byte("PROXY UDP4 1.2.3.4 5.6.7.8 1 2\r\n"),
		"v1 zone":             []byte("PROXY TCP6 fe80::1%eth0 fe80::2 1 2\r\n"),
		"v2 bad version":      append(append([]byte(nil), v2Signature...), 0x11, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2),
		"v2 bad command":      append(append([]byte(nil), v2Signature...), 0x22, 0x11, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2),
		"v2 short IPv4":       append(append([]byte(nil), v2Signature...), 0x21, 0x11, 0, 4, 1, 2, 3, 4),
		"v2 short IPv6":       append(append([]byte(nil), v2Signature...), 0x21, 0x21, 0, 12, 1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2),
		"v2 bad family":       append(append([]byte(nil), v2Signature...), 0x21, 0x41, 0, 0),
		"v2 payload too long": big,
	}
	for name, in := range tests {
		t.Run(name, func(t *testing.T) {
			_, err := Read(bytes.NewReader(in))
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
		})
	}
	// Cut short: an I/O error, not ErrInvalid.
	for _, in := range [][]byte{[]byte("PROX"), []byte("PROXY TCP4 1.2.3.4"), AppendV2(nil, netip.MustParseAddrPort("1.2.3.4:1"), netip.MustParseAddrPort("1.2.3.4:2"), nil)[:20]} {
		if _, err := Read(bytes.NewReader(in)); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("%q: err = %v, want io.ErrUnexpectedEOF", in, err)
		}
	}
}

// FuzzRead checks that Read never panics, never reads past what it reports
// as the header (the rest of the input stays unread), and that what it
// accepts round-trips through the encoders.
func FuzzRead(f *testing.F) {
	src4, dst4 := netip.MustParseAddrPort("203.0.113.7:51234"), netip.MustParseAddrPort("10.0.0.1:443")
	src6, dst6 := netip.MustParseAddrPort("[2001:db8::1]:40000"), netip.MustParseAddrPort("[2001:db8::2]:80")
	f.Add(AppendV1(nil, src4, dst4))
	f.Add(AppendV1(nil, src6, dst6))
	f.Add([]byte("PROXY UNKNOWN\r\n"))
	f.Add(AppendV2(nil, src4, dst4, []byte{1, 0, 2, 'h', '2'}))
	f.Add(AppendV2(nil, src6, dst6, nil))
	f.Add(AppendV2Local(nil))
	f.Add([]byte("GET / HTTP/1.1\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		r := bytes.NewReader(in)
		h, err := Read(oneByteReader{r})
		if err != nil {
			return
		}
		used := len(in) - r.Len()
		switch h.Version {
		case 1:
			if used > MaxV1Length || in[used-1] != '\n' {
				t.Fatalf("v1 header of %d bytes: %q", used, in[:used])
			}
		case 2:
			if used > 16+MaxV2Payload {
				t.Fatalf("v2 header of %d bytes", used)
			}
		default:
			t.Fatalf("version %d", h.Version)
		}
		if h.Local {
			if h.Source.IsValid() || h.Destination.IsValid() {
				t.Fatalf("local header with addresses: %+v", h)
			}
			return
		}
		if !h.Source.IsValid() || !h.Destination.IsValid() {
			t.Fatalf("proxied header without addresses: %+v", h)
		}
		var again []byte
		if h.Version == 1 {
			again = AppendV1(nil, h.Source, h.Destination)
		} else {
			again = AppendV2(nil, h.Source, h.Destination, nil)
		}
		h2, err := Read(bytes.NewReader(again))
		if err != nil || h2 != h {
			t.Fatalf("round trip of %+v: %+v, %v", h, h2, err)
		}
	})
}

func benchmarkRead(b *testing.B, hdr []byte) {
	r := bytes.NewReader(hdr)
	b.ReportAllocs()
	for b.Loop() {
		r.Reset(hdr)
		if _, err := Read(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadV1(b *testing.B) {
	benchmarkRead(b, AppendV1(nil, netip.MustParseAddrPort("203.0.113.7:51234"), netip.MustParseAddrPort("10.0.0.1:443")))
}

func BenchmarkReadV2(b *testing.B) {
	benchmarkRead(b, AppendV2(nil, netip.MustParseAddrPort("203.0.113.7:51234"), netip.MustParseAddrPort("10.0.0.1:443"), nil))
}
