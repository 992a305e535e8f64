// Package proxyproto reads the PROXY protocol header (versions 1 and 2) that
// a TCP load balancer (HAProxy, nginx stream, AWS NLB, ...) sends first on a
// connection to say who the real client is
// (https://www.haproxy.org/download/2.9/doc/proxy-protocol.txt).
//
// Read consumes exactly the header and nothing after it, so the caller goes
// on reading the client's bytes from the same connection (the gateway hands
// the bare socket over to its poller after the WebSocket upgrade, where a
// buffering reader would lose bytes). A version 1 header is read a few bytes
// at a time for that reason; version 2, the binary form a load balancer
// should be set to send, takes three reads.
package proxyproto

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
)

// Limits of what Read accepts.
const (
	// MaxV1Length is the longest version 1 header, CRLF included (spec
	// section 2.1).
	MaxV1Length = 107
	// MaxV2Payload caps the addresses and TLVs of a version 2 header. The
	// format allows 65,535 bytes; load balancers send tens to a few hundred.
	MaxV2Payload = 4096
)

// ErrInvalid is wrapped by every error about the header itself (not I/O).
var ErrInvalid = errors.New("proxyproto: invalid header")

// v2Signature begins every version 2 header.
var v2Signature = []byte("\r\n\r\n\x00\r\nQUIT\n")

// Header is what a PROXY protocol header says.
type Header struct {
	// Version is 1 or 2.
	Version int
	// Local is true for a connection the proxy made itself (v2 LOCAL, e.g.
	// a health check) or one it could not describe (v1 UNKNOWN, or v2 with
	// an address family other than TCP over IPv4 or IPv6): Source and
	// Destination are then invalid and the connection's own addresses
	// apply.
	Local bool
	// Source is the real client's address, Destination the address it
	// connected to (the load balancer's).
	Source, Destination netip.AddrPort
}

func invalid(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, args...))
}

// Read reads one PROXY protocol header from r, version 1 or 2, consuming
// exactly its bytes. Anything else is an error wrapping ErrInvalid; I/O
// errors are returned wrapped (io.ErrUnexpectedEOF for a header cut short).
// The caller bounds the time it takes (a read deadline).
func Read(r io.Reader) (Header, error) {
	// 12 bytes: the v2 signature, or the start of a v1 header (the shortest,
	// "PROXY UNKNOWN\r\n", has 15).
	var buf [MaxV1Length]byte
	if err := readFull(r, buf[:12]); err != nil {
		return Header{}, err
	}
	switch {
	case bytes.Equal(buf[:12], v2Signature):
		return readV2(r)
	case bytes.HasPrefix(buf[:12], []byte("PROXY ")):
		return readV1(r, buf[:], 12)
	}
	return Header{}, invalid("no PROXY protocol header")
}

func readFull(r io.Reader, p []byte) error {
	if _, err := io.ReadFull(r, p); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("proxyproto: read header: %w", err)
	}
	return nil
}

// readV1 reads the rest of a version 1 header whose first n bytes are in
// buf, one byte at a time up to the line feed (reading more could consume
// the client's first bytes).
func readV1(r io.Reader, buf []byte, n int) (Header, error) {
	for buf[n-1] != '\n' {
		if n == len(buf) {
			return Header{}, invalid("v1 header longer than %d bytes", MaxV1Length)
		}
		if err := readFull(r, buf[n:n+1]); err != nil {
			return Header{}, err
		}
		n++
	}
	return ParseV1(buf[:n])
}

// ParseV1 parses a whole version 1 header line, CRLF included:
// "PROXY TCP4|TCP6 src dst srcport dstport\r\n" or "PROXY UNKNOWN...\r\n".
func ParseV1(line []byte) (Header, error) {
	s, ok := strings.CutSuffix(string(line), "\r\n")
	if !ok || len(line) > MaxV1Length {
		return Header{}, invalid("v1 header not ending in CRLF within %d bytes", MaxV1Length)
	}
	s, ok = strings.CutPrefix(s, "PROXY ")
	if !ok {
		return Header{}, invalid("v1 header without PROXY")
	}
	if s == "UNKNOWN" || strings.HasPrefix(s, "UNKNOWN ") {
		return Header{Version: 1, Local: true}, nil
	}
	f := strings.Split(s, " ")
	if len(f) != 5 || (f[0] != "TCP4" && f[0] != "TCP6") {
		return Header{}, invalid("v1 header: want TCP4|TCP6 src dst srcport dstport")
	}
	src, err1 := netip.ParseAddr(f[1])
	dst, err2 := netip.ParseAddr(f[2])
	sport, err3 := parsePort(f[3])
	dport, err4 := parsePort(f[4])
	if err := errors.Join(err1, err2, err3, err4); err != nil {
		return Header{}, invalid("v1 header: %v", err)
	}
	if want4 := f[0] == "TCP4"; src.Is4() != want4 || dst.Is4() != want4 || src.Zone() != "" || dst.Zone() != "" {
		return Header{}, invalid("v1 header: addresses do not match %s", f[0])
	}
	return Header{Version: 1, Source: netip.AddrPortFrom(src, sport), Destination: netip.AddrPortFrom(dst, dport)}, nil
}

// parsePort parses a decimal port without sign or leading zero.
func parsePort(s string) (uint16, error) {
	if s == "" || len(s) > 5 || (len(s) > 1 && s[0] == '0') || s[0] < '0' || s[0] > '9' {
		return 0, fmt.Errorf("bad port %q", s)
	}
	p, err := strconv.ParseUint(s, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("bad port %q", s)
	}
	return uint16(p), nil
}

// readV2 reads the rest of a version 2 header after its signature.
func readV2(r io.Reader) (Header, error) {
	var fixed [4]byte
	if err := readFull(r, fixed[:]); err != nil {
		return Header{}, err
	}
	n := int(binary.BigEndian.Uint16(fixed[2:]))
	if n > MaxV2Payload {
		return Header{}, invalid("v2 header of %d bytes, more than %d", n, MaxV2Payload)
	}
	payload := make([]byte, n)
	if err := readFull(r, payload); err != nil {
		return Header{}, err
	}
	return ParseV2(fixed[0], fixed[1], payload)
}

// ParseV2 parses the version/command byte, the family/protocol byte and the
// payload (addresses, then TLVs, which are skipped) of a version 2 header.
func ParseV2(verCmd, famProto byte, payload []byte) (Header, error) {
	if verCmd>>4 != 2 {
		return Header{}, invalid("v2 header version %d", verCmd>>4)
	}
	h := Header{Version: 2}
	switch verCmd & 0xf {
	case 0: // LOCAL: the addresses, if any, are to be ignored
		h.Local = true
		return h, nil
	case 1: // PROXY
	default:
		return Header{}, invalid("v2 command %d", verCmd&0xf)
	}
	if famProto&0xf != 1 { // not STREAM (TCP): UNSPEC or DGRAM
		h.Local = true
		return h, nil
	}
	switch famProto >> 4 {
	case 1: // AF_INET
		if len(payload) < 12 {
			return Header{}, invalid("v2 IPv4 addresses need 12 bytes, have %d", len(payload))
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom4([4]byte(payload[0:4])), binary.BigEndian.Uint16(payload[8:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom4([4]byte(payload[4:8])), binary.BigEndian.Uint16(payload[10:]))
	case 2: // AF_INET6
		if len(payload) < 36 {
			return Header{}, invalid("v2 IPv6 addresses need 36 bytes, have %d", len(payload))
		}
		h.Source = netip.AddrPortFrom(netip.AddrFrom16([16]byte(payload[0:16])).Unmap(), binary.BigEndian.Uint16(payload[32:]))
		h.Destination = netip.AddrPortFrom(netip.AddrFrom16([16]byte(payload[16:32])).Unmap(), binary.BigEndian.Uint16(payload[34:]))
	case 0, 3: // AF_UNSPEC, AF_UNIX: no IP address to report
		h.Local = true
	default:
		return Header{}, invalid("v2 address family %d", famProto>>4)
	}
	return h, nil
}

// AppendV1 appends a version 1 header for src and dst (same family) to b;
// for load balancers written in Go and tests.
func AppendV1(b []byte, src, dst netip.AddrPort) []byte {
	fam := "TCP4"
	if !src.Addr().Is4() {
		fam = "TCP6"
	}
	b = append(b, "PROXY "+fam+" "...)
	b = append(b, src.Addr().String()+" "+dst.Addr().String()+" "...)
	b = strconv.AppendUint(b, uint64(src.Port()), 10)
	b = append(b, ' ')
	b = strconv.AppendUint(b, uint64(dst.Port()), 10)
	return append(b, "\r\n"...)
}

// AppendV2 appends a version 2 PROXY header for src and dst (same family,
// TCP) followed by the given raw TLV bytes to b.
func AppendV2(b []byte, src, dst netip.AddrPort, tlvs []byte) []byte {
	b = append(b, v2Signature...)
	b = append(b, 0x21) // version 2, PROXY
	if src.Addr().Is4() {
		b = append(b, 0x11) // AF_INET, STREAM
		b = binary.BigEndian.AppendUint16(b, uint16(12+len(tlvs)))
		s, d := src.Addr().As4(), dst.Addr().As4()
		b = append(append(b, s[:]...), d[:]...)
	} else {
		b = append(b, 0x21) // AF_INET6, STREAM
		b = binary.BigEndian.AppendUint16(b, uint16(36+len(tlvs)))
		s, d := src.Addr().As16(), dst.Addr().As16()
		b = append(append(b, s[:]...), d[:]...)
	}
	b = binary.BigEndian.AppendUint16(b, src.Port())
	b = binary.BigEndian.AppendUint16(b, dst.Port())
	return append(b, tlvs...)
}

// AppendV2Local appends a version 2 LOCAL header (a proxy's own
// connection, e.g. a health check) to b.
func AppendV2Local(b []byte) []byte {
	b = append(b, v2Signature...)
	return append(b, 0x20, 0x00, 0x00, 0x00)
}
