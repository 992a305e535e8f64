package wsconn

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strconv"
	"strings"

	"github.com/gobwas/ws"
)

// Defaults of UpgradeConfig, used when a field is zero (or negative).
const (
	DefaultMaxHeaders     = 64      // header lines
	DefaultMaxHeaderBytes = 8 << 10 // request line and headers, line ends included
)

// initialHeadBuffer is the first size of the buffer the request is read
// into; it doubles up to MaxHeaderBytes. Most handshakes fit.
const initialHeadBuffer = 1 << 10

// Header is one request header.
type Header struct{ Name, Value string }

// Handshake is what the client sent in its opening handshake.
type Handshake struct {
	// Path is the unescaped path of the request target, RawQuery its query
	// without the '?'.
	Path, RawQuery string
	// Compressed says that permessage-deflate was negotiated (see
	// UpgradeConfig.Compression): set Reader.Deflate, and the client
	// accepts frames from Compressor. WindowBits is the LZ77 window the
	// client allows the server (server_max_window_bits, 8 to 15; 15 when
	// it set none), for FitsWindow.
	Compressed bool
	WindowBits uint8
	// Headers lists every request header in order, names canonicalised
	// (textproto.CanonicalMIMEHeaderKey), values trimmed. Their number is
	// capped by UpgradeConfig.MaxHeaders.
	Headers []Header
	// Origin and Host are the first Origin and Host headers ("" if absent).
	Origin, Host string
	// Protocols are the subprotocols the client offers, in its order of
	// preference (every Sec-WebSocket-Protocol header, split at commas).
	Protocols []string
	// Protocol is the subprotocol chosen for the response ("" for none):
	// Upgrade sets it to the first of Protocols that UpgradeConfig.Protocols
	// lists before it runs the Check hook, which may change it to another
	// of Protocols or to "".
	Protocol string
}

// Get returns the value of the first header named name (any case), or "".
func (h *Handshake) Get(name string) string {
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, name) {
			return hd.Value
		}
	}
	return ""
}

// Values returns the values of every header named name (any case), in
// order.
func (h *Handshake) Values(name string) []string {
	var v []string
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, name) {
			v = append(v, hd.Value)
		}
	}
	return v
}

// UpgradeConfig configures Upgrade. The zero value (or a nil pointer) accepts
// any origin with the default limits.
type UpgradeConfig struct {
	// AllowedOrigins lists the origins allowed to connect; empty allows any.
	// An entry is "*" (any), a full origin "https://app.example.com", a host
	// "app.example.com" (any scheme; with ":port" the port must match too),
	// or either form with a leading "*." label ("*.example.com",
	// "https://*.example.com") matching any subdomain, not the domain itself.
	// Comparison ignores case. A request without an Origin header (a
	// non-browser client, which could forge one anyway) is allowed. A refused
	// origin gets 403.
	AllowedOrigins []string
	// MaxHeaders caps the number of header lines; more gets 431.
	// Default DefaultMaxHeaders.
	MaxHeaders int
	// MaxHeaderBytes caps the request line and headers together; more gets
	// 431. Default DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// Compression accepts the client's permessage-deflate offer (RFC 7692),
	// if it has one the server can honour, without context takeover in
	// either direction (deflate.go). Handshake.Compressed reports the
	// result. False: no compression.
	Compression bool
	// Check, if set, runs after the request has been read and validated and
	// before the 101 response is written. A non-nil error refuses the client
	// with the Status and Reason of a *RejectError (4xx or 5xx), or 403 for
	// any other error (whose text is not sent). It runs on the caller's
	// goroutine, under the caller's deadline.
	Check func(h *Handshake) error
	// Protocols are the subprotocols the server supports. The first one
	// the client offers (in the client's order) is chosen and named in the
	// response's Sec-WebSocket-Protocol header; none is chosen when the
	// client offers none of them (the client decides whether to go on).
	// Empty: none is ever chosen unless the Check hook sets one.
	Protocols []string
}

// ValidProtocol reports whether p can name a subprotocol: a non-empty HTTP
// token (RFC 6455 section 4.1, RFC 7230 section 3.2.6).
func ValidProtocol(p string) bool {
	if p == "" {
		return false
	}
	for i := range len(p) {
		c := p[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// chooseProtocol is the first of offered that supported lists, or "".
func chooseProtocol(offered, supported []string) string {
	for _, p := range offered {
		if slices.Contains(supported, p) {
			return p
		}
	}
	return ""
}

// Upgrade reads the HTTP upgrade request from conn and writes the 101
// response, or an HTTP error response and a *RejectError:
//
//   - 400 for a malformed request, a bad request target, missing or invalid
//     Upgrade, Connection or Sec-WebSocket-Key headers, or bytes sent after
//     the request (ErrEarlyData);
//   - 405 for a method other than GET, 505 for an HTTP version other than 1.x
//     (x >= 1);
//   - 426 with "Sec-WebSocket-Version: 13" for another WebSocket version;
//   - 431 for too many or too large headers;
//   - 403 for an origin not allowed, or the Check hook's status;
//   - 500 when the Check hook chose a subprotocol the client did not offer.
//
// The subprotocol is chosen as UpgradeConfig.Protocols and the Check hook
// say; no extension is negotiated but permessage-deflate with
// UpgradeConfig.Compression. A successful Upgrade has
// consumed exactly the request and keeps no buffer, so the caller reads
// frames from conn directly (bytes arriving with the request, before the 101,
// are refused as ErrEarlyData). The caller sets conn's
// deadline (the handshake timeout) first. I/O errors are returned wrapped,
// without a response. On a rejection the returned Handshake holds what was
// parsed.
func Upgrade(conn net.Conn, cfg *UpgradeConfig) (Handshake, error) {
	var c UpgradeConfig
	if cfg != nil {
		c = *cfg
	}
	if c.MaxHeaders <= 0 {
		c.MaxHeaders = DefaultMaxHeaders
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}

	head, err := readHead(conn, c.MaxHeaderBytes, c.MaxHeaders)
	if err != nil {
		return Handshake{}, rejectIfNeeded(conn, err)
	}
	s := string(head) // one copy; every string in the Handshake points into it
	uri, ok := parseRequestLine(s)
	if !ok {
		return Handshake{}, rejectIfNeeded(conn, &RejectError{Status: http.StatusBadRequest, Reason: "malformed HTTP request", Err: ErrHandshake})
	}
	hs := parseHeaders(s, c.MaxHeaders)

	var refused *RejectError // set by our hooks, so the caller gets our error, not gobwas's
	refuse := func(rej *RejectError) error {
		refused = rej
		opts := []ws.RejectOption{ws.RejectionStatus(rej.Status), ws.RejectionReason(rej.Reason)}
		return ws.RejectConnectionError(opts...)
	}
	u := ws.Upgrader{
		OnRequest: func([]byte) error {
			path, query, ok := splitTarget(uri)
			if !ok {
				return refuse(&RejectError{Status: http.StatusBadRequest, Reason: "bad request URI", Err: ErrBadRequestURI})
			}
			hs.Path, hs.RawQuery = path, query
			return nil
		},
		OnBeforeUpgrade: func() (ws.HandshakeHeader, error) {
			if !originAllowed(c.AllowedOrigins, hs.Origin) {
				return nil, refuse(&RejectError{Status: http.StatusForbidden, Reason: "origin not allowed", Err: ErrOriginNotAllowed})
			}
			hs.Protocol = chooseProtocol(hs.Protocols, c.Protocols)
			if c.Check != nil {
				if err := c.Check(&hs); err != nil {
					return nil, refuse(hookRejection(err))
				}
			}
			return protocolHeader(&hs)
		},
	}
	rw := struct {
		io.Reader
		io.Writer
	}{bytes.NewReader(head), conn}
	if c.Compression {
		u.Negotiate = negotiateDeflate(&hs)
	}
	_, err = u.Upgrade(rw)
	var gobwasRej *ws.ConnectionRejectedError
	switch {
	case err == nil:
		return hs, nil
	case refused != nil:
		return hs, refused
	case errors.As(err, &gobwasRej):
		status := gobwasRej.StatusCode()
		if status == 0 {
			status = http.StatusInternalServerError
		}
		return hs, &RejectError{Status: status, Reason: gobwasRej.Error(), Err: ErrHandshake}
	default:
		return hs, fmt.Errorf("wsconn: write handshake response: %w", err)
	}
}

// protocolHeader is the response header naming the chosen subprotocol, if
// any; a choice the client did not offer is refused.
func protocolHeader(hs *Handshake) (ws.HandshakeHeader, error) {
	if hs.Protocol == "" {
		return nil, nil
	}
	if !slices.Contains(hs.Protocols, hs.Protocol) || !ValidProtocol(hs.Protocol) {
		return nil, ws.RejectConnectionError(ws.RejectionStatus(http.StatusInternalServerError),
			ws.RejectionReason("subprotocol not offered by the client"))
	}
	return ws.HandshakeHeaderString("Sec-WebSocket-Protocol: " + hs.Protocol + "\r\n"), nil
}

// splitTarget parses a request target in origin form ("/path?query") or
// absolute form ("ws://host/path?query", schemes http, https, ws, wss) into
// its unescaped path (never empty) and raw query.
func splitTarget(uri string) (path, query string, ok bool) {
	u, err := url.ParseRequestURI(uri)
	if err != nil {
		return "", "", false
	}
	switch {
	case strings.HasPrefix(uri, "/"):
		// origin form ("//a/b" is a path too, as in net/http)
	case u.Host == "" || u.Opaque != "":
		return "", "", false
	default:
		switch strings.ToLower(u.Scheme) {
		case "http", "https", "ws", "wss":
		default:
			return "", "", false
		}
	}
	if u.Path == "" {
		u.Path = "/"
	}
	return u.Path, u.RawQuery, true
}

// hookRejection turns the Check hook's error into the rejection to send.
func hookRejection(err error) *RejectError {
	var rej *RejectError
	if errors.As(err, &rej) && rej.Status >= 400 && rej.Status <= 599 {
		return &RejectError{Status: rej.Status, Reason: rej.Reason, Err: err}
	}
	return &RejectError{Status: http.StatusForbidden, Reason: "forbidden", Err: err}
}

// rejectIfNeeded writes the HTTP response for a *RejectError found before
// gobwas/ws takes over; other errors are returned as they are.
func rejectIfNeeded(conn net.Conn, err error) error {
	var rej *RejectError
	if !errors.As(err, &rej) {
		return err
	}
	var b []byte
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(rej.Status), 10)
	b = append(b, ' ')
	b = append(b, http.StatusText(rej.Status)...)
	b = append(b, "\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(rej.Reason)), 10)
	b = append(b, "\r\n\r\n"...)
	b = append(b, rej.Reason...)
	if _, werr := conn.Write(b); werr != nil {
		return fmt.Errorf("%w (writing the response: %w)", err, werr)
	}
	return err
}

// readHead reads the request line and headers, up to and including the blank
// line, in at most maxBytes. It fails with a *RejectError when the request is
// too large, has too many headers, or is followed by more bytes.
func readHead(conn net.Conn, maxBytes, maxHeaders int) ([]byte, error) {
	buf := make([]byte, 0, min(maxBytes, initialHeadBuffer))
	scan, lines := 0, 0 // scan: start of the first line not yet terminated
	for {
		if len(buf) >= maxBytes {
			return nil, &RejectError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "request header too large", Err: ErrHeaderTooLarge}
		}
		if len(buf) == cap(buf) {
			buf = slices.Grow(buf, min(cap(buf), maxBytes-len(buf)))
		}
		n, err := conn.Read(buf[len(buf):min(cap(buf), maxBytes)])
		buf = buf[:len(buf)+n]
		for {
			i := bytes.IndexByte(buf[scan:], '\n')
			if i < 0 {
				break
			}
			line := buf[scan : scan+i]
			scan += i + 1
			if len(line) == 0 || (len(line) == 1 && line[0] == '\r') {
				if scan < len(buf) {
					return nil, &RejectError{Status: http.StatusBadRequest, Reason: "data sent before the handshake completed", Err: ErrEarlyData}
				}
				return buf, nil
			}
			lines++
			if lines-1 > maxHeaders { // the first line is the request line
				return nil, &RejectError{Status: http.StatusRequestHeaderFieldsTooLarge, Reason: "too many request headers", Err: ErrTooManyHeaders}
			}
		}
		if err != nil {
			return nil, fmt.Errorf("wsconn: read handshake: %w", err)
		}
	}
}

// nextLine returns the first line of s without its "\n" or "\r\n", and the rest.
func nextLine(s string) (line, rest string) {
	i := strings.IndexByte(s, '\n')
	if i < 0 {
		return s, ""
	}
	line, rest = s[:i], s[i+1:]
	return strings.TrimSuffix(line, "\r"), rest
}

// parseRequestLine checks "METHOD SP URI SP HTTP/d.d" at least as strictly as
// gobwas/ws (which writes no response for a malformed request line) and
// returns the URI.
func parseRequestLine(s string) (uri string, ok bool) {
	line, _ := nextLine(s)
	method, rest, ok1 := strings.Cut(line, " ")
	uri, proto, ok2 := strings.Cut(rest, " ")
	if !ok1 || !ok2 || method == "" {
		return "", false
	}
	version, ok := strings.CutPrefix(proto, "HTTP/")
	if !ok {
		return "", false
	}
	major, minor, ok := strings.Cut(version, ".")
	return uri, ok && isDigits(major) && isDigits(minor)
}

func isDigits(s string) bool {
	if s == "" || len(s) > 3 {
		return false
	}
	for i := range len(s) {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// parseHeaders collects the header lines of the request head s (complete,
// ending with a blank line) into a Handshake, at most maxHeaders of them.
// Lines without a colon are skipped here; gobwas/ws rejects them.
func parseHeaders(s string, maxHeaders int) Handshake {
	var hs Handshake
	_, rest := nextLine(s) // request line
	n := strings.Count(rest, "\n")
	hs.Headers = make([]Header, 0, min(n, maxHeaders))
	for len(hs.Headers) < maxHeaders {
		var line string
		line, rest = nextLine(rest)
		if line == "" {
			break
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		h := Header{
			Name:  textproto.CanonicalMIMEHeaderKey(strings.Trim(name, " \t")),
			Value: strings.Trim(value, " \t"),
		}
		hs.Headers = append(hs.Headers, h)
		switch {
		case h.Name == "Host" && hs.Host == "":
			hs.Host = h.Value
		case h.Name == "Origin" && hs.Origin == "":
			hs.Origin = h.Value
		case h.Name == "Sec-Websocket-Protocol":
			for p := range strings.SplitSeq(h.Value, ",") {
				if p = strings.Trim(p, " \t"); p != "" {
					hs.Protocols = append(hs.Protocols, p)
				}
			}
		}
	}
	return hs
}

// originAllowed reports whether origin matches one of the patterns (see
// UpgradeConfig.AllowedOrigins).
func originAllowed(patterns []string, origin string) bool {
	if len(patterns) == 0 || origin == "" || slices.Contains(patterns, "*") {
		return true
	}
	u, err := url.Parse(origin)
	if err != nil || u.Scheme == "" || u.Host == "" {
		return false
	}
	for _, p := range patterns {
		scheme, hostPattern, hasScheme := strings.Cut(p, "://")
		if !hasScheme {
			hostPattern = p
			host := u.Hostname()
			if strings.Contains(p, ":") {
				host = u.Host
			}
			if matchHost(hostPattern, host) {
				return true
			}
			continue
		}
		if strings.EqualFold(scheme, u.Scheme) && matchHost(hostPattern, u.Host) {
			return true
		}
	}
	return false
}

// matchHost compares host with an exact or "*.domain" pattern, ignoring case.
func matchHost(pattern, host string) bool {
	suffix, wildcard := strings.CutPrefix(pattern, "*")
	if !wildcard {
		return strings.EqualFold(pattern, host)
	}
	return strings.HasPrefix(suffix, ".") && len(host) > len(suffix) &&
		strings.EqualFold(host[len(host)-len(suffix):], suffix)
}
