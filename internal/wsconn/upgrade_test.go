package wsconn

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// upgradeResult is what the test server saw for one connection.
type upgradeResult struct {
	hs  Handshake
	err error
}

// echoServer accepts on 127.0.0.1:0, upgrades every connection with cfg and
// echoes messages (pings answered, close echoed) until the client closes.
// Closes of the client are reported on closes.
type echoServer struct {
	ln      net.Listener
	results chan upgradeResult
	closes  chan Frame
	wg      sync.WaitGroup
}

func startEchoServer(t *testing.T, cfg *UpgradeConfig) *echoServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &echoServer{ln: ln, results: make(chan upgradeResult, 16), closes: make(chan Frame, 16)}
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Add(1)
			go func() {
				defer s.wg.Done()
				s.serve(conn, cfg)
			}()
		}
	}()
	t.Cleanup(func() {
		_ = ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *echoServer) serve(conn net.Conn, cfg *UpgradeConfig) {
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	hs, err := Upgrade(conn, cfg)
	s.results <- upgradeResult{hs: hs, err: err}
	if err != nil {
		lingeringClose(conn)
		return
	}
	var rd Reader
	var out []byte
	for {
		f, err := rd.ReadFrame(conn)
		var ce *CloseError
		switch {
		case errors.As(err, &ce):
			_, _ = conn.Write(AppendClose(nil, ce.Code, ce.Reason))
			lingeringClose(conn)
			return
		case err != nil:
			return
		}
		out = out[:0]
		switch f.Kind {
		case KindMessage:
			out = AppendMessage(out, f.Binary, f.Payload)
		case KindPing:
			out = AppendPong(out, f.Payload)
		case KindClose:
			s.closes <- f
			_, _ = conn.Write(AppendClose(nil, f.CloseCode, ""))
			return
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// lingeringClose half-closes and drains, so an error response reaches a
// client that is still sending instead of being lost to a TCP reset.
func lingeringClose(conn net.Conn) {
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.CloseWrite()
	}
	_ = conn.SetReadDeadline(time.Now().Add(time.Second))
	_, _ = io.Copy(io.Discard, conn)
}

func (s *echoServer) addr() string { return s.ln.Addr().String() }

func (s *echoServer) result(t *testing.T) upgradeResult {
	t.Helper()
	select {
	case r := <-s.results:
		return r
	case <-time.After(5 * time.Second):
		t.Fatal("no upgrade result within 5s")
		return upgradeResult{}
	}
}

func TestUpgradeWithGorillaClient(t *testing.T) {
	cfg := &UpgradeConfig{AllowedOrigins: []string{"https://*.example.com"}}
	srv := startEchoServer(t, cfg)

	dialer := websocket.Dialer{WriteBufferSize: 512, HandshakeTimeout: 5 * time.Second}
	hdr := http.Header{}
	hdr.Set("Origin", "https://app.example.com")
	hdr.Set("X-Token", "abc")
	hdr.Add("Cookie", "a=1")
	c, resp, err := dialer.Dial("ws://"+srv.addr()+"/chat/r%C3%A9m?room=1&x=y%20z", hdr)
	if err != nil {
		t.Fatalf(
			"Dial: %v",
			err,
		)
	}
	defer c.Close()
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf(
			"status %d",
			resp.StatusCode,
		)
	}

	r := srv.result(t)
	if r.err != nil {
		t.Fatalf(
			"Upgrade: %v",
			r.err,
		)
	}
	hs := r.hs
	if hs.Path != "/chat/rém" || hs.RawQuery != "room=1&x=y%20z" {
		t.Errorf(
			"path %q query %q",
			hs.Path, hs.RawQuery,
		)
	}
	if hs.Origin != "https://app.example.com" || hs.Host != srv.addr() {
		t.Errorf(
			"origin %q host %q",
			hs.Origin, hs.Host,
		)
	}
	if hs.Get("x-token") != "abc" || hs.Get("Cookie") != "a=1" || hs.Get("Sec-Websocket-Version") != "13" {
		t.Errorf(
			"headers %+v",
			hs.Headers,
		)
	}
	for _, h := range hs.Headers {
		if h.Name != http.CanonicalHeaderKey(h.Name) {
			t.Errorf(
				"header name %q not canonical",
				h.Name,
			)
		}
	}

	// Messages: text, binary, and one fragmented by the client's small buffer.
	msgs := []struct {
		typ  int
		data []byte
	}{
		{typ: websocket.TextMessage, data: []byte("hello ✓")},
		{typ: websocket.BinaryMessage, data: []byte{0, 1, 2, 0xff}},
		{typ: websocket.TextMessage, data: []byte(strings.Repeat("ü", 5000))},
		{typ: websocket.TextMessage, data: nil},
	}
	for _, m := range msgs {
		if err := c.WriteMessage(m.typ, m.data); err != nil {
			t.Fatal(err)
		}
		typ, data, err := c.ReadMessage()
		if err != nil || typ != m.typ || !bytes.Equal(data, m.data) {
			t.Fatalf(
				"echo: type %d (want %d), %d bytes (want %d), err %v",
				typ, m.typ, len(data), len(m.data), err,
			)
		}
	}

	// Ping gets a pong.
	pong := make(chan string, 1)
	c.SetPongHandler(func(s string) error { pong <- s; return nil })
	if err := c.WriteControl(websocket.PingMessage, []byte("hb"), time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	readErr := make(chan error, 1)
	go func() {
		_, _, err := c.ReadMessage()
		readErr <- err
	}()
	select {
	case s := <-pong:
		if s != "hb" {
			t.Fatalf(
				"pong %q, want hb",
				s,
			)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no pong")
	}

	// Close handshake: the server sees the code and reason and echoes the close.
	msg := websocket.FormatCloseMessage(websocket.CloseNormalClosure, "bye")
	if err := c.WriteControl(websocket.CloseMessage, msg, time.Now().Add(time.Second)); err != nil {
		t.Fatal(err)
	}
	select {
	case f := <-srv.closes:
		if f.CloseCode != CloseNormal || f.CloseReason != "bye" {
			t.Fatalf(
				"server got close %d %q",
				f.CloseCode, f.CloseReason,
			)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("server saw no close")
	}
	err = <-readErr
	if !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf(
			"client read after close: %v, want close 1000",
			err,
		)
	}
}

// A protocol violation by the client gets the close code on the wire.
func TestUpgradeThenViolationClosesWithCode(t *testing.T) {
	srv := startEchoServer(t, &UpgradeConfig{})
	conn, err := net.Dial("tcp", srv.addr())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := conn.Write([]byte(validRequest("/"))); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil || resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf(
			"response %v, err %v",
			resp, err,
		)
	}
	if r := srv.result(t); r.err != nil {
		t.Fatal(r.err)
	}
	// An unmasked frame.
	if _, err := conn.Write([]byte{0x81, 0x02, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(br)
	if err != nil {
		t.Fatal(err)
	}
	want := AppendClose(nil, CloseProtocolError, "client frame not masked")
	if !bytes.Equal(got, want) {
		t.Fatalf(
			"got %q, want close frame %q",
			got, want,
		)
	}
}

const testKey = "dGhlIHNhbXBsZSBub25jZQ=="

func validRequest(target string, extra ...string) string {
	return "GET " + target + " HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n" +
		"Sec-WebSocket-Key: " + testKey + "\r\nSec-WebSocket-Version: 13\r\n" + strings.Join(extra, "") + "\r\n"
}

func manyHeaders(n int) string {
	var b strings.Builder
	for i := range n {
		b.WriteString("X-H" + itoa(i) + ": v\r\n")
	}
	return b.String()
}

func TestUpgradeRejections(t *testing.T) {
	errHook := errors.New("hook says no")
	tests := []struct {
		name       string
		req        string
		cfg        *UpgradeConfig
		status     int
		wantHeader [2]string
		wantIs     error
		wantBody   string
	}{
		{
			name:   "POST",
			req:    strings.Replace(validRequest("/"), "GET", "POST", 1),
			status: http.StatusMethodNotAllowed,
			wantIs: ErrHandshake,
		},
		{
			name:       "WebSocket version 8",
			req:        strings.Replace(validRequest("/"), "Version: 13", "Version: 8", 1),
			status:     http.StatusUpgradeRequired,
			wantHeader: [2]string{"Sec-WebSocket-Version", "13"},
			wantIs:     ErrHandshake,
		},
		{
			name:   "HTTP/1.0",
			req:    strings.Replace(validRequest("/"), "HTTP/1.1", "HTTP/1.0", 1),
			status: http.StatusHTTPVersionNotSupported,
			wantIs: ErrHandshake,
		},
		{
			name:   "missing key",
			req:    strings.Replace(validRequest("/"), "Sec-WebSocket-Key: "+testKey+"\r\n", "", 1),
			status: http.StatusBadRequest,
			wantIs: ErrHandshake,
		},
		{
			name:   "missing upgrade",
			req:    strings.Replace(validRequest("/"), "Upgrade: websocket\r\n", "", 1),
			status: http.StatusBadRequest,
			wantIs: ErrHandshake,
		},
		{
			name:   "malformed request line",
			req:    "GET /\r\n\r\n",
			status: http.StatusBadRequest,
			wantIs: ErrHandshake,
		},
		{
			name:   "header without colon",
			req:    validRequest("/", "Broken header\r\n"),
			status: http.StatusBadRequest,
			wantIs: ErrHandshake,
		},
		{
			name:   "bad request URI",
			req:    validRequest("no-slash"),
			status: http.StatusBadRequest,
			wantIs: ErrBadRequestURI,
		},
		{
			name:   "origin refused",
			req:    validRequest("/", "Origin: https://evil.test\r\n"),
			cfg:    &UpgradeConfig{AllowedOrigins: []string{"example.com"}},
			status: http.StatusForbidden,
			wantIs: ErrOriginNotAllowed,
		},
		{
			name:   "too many headers",
			req:    validRequest("/", manyHeaders(6)),
			cfg:    &UpgradeConfig{MaxHeaders: 10},
			status: http.StatusRequestHeaderFieldsTooLarge,
			wantIs: ErrTooManyHeaders,
		},
		{
			name:   "more than the default 64 headers",
			req:    validRequest("/", manyHeaders(60)),
			status: http.StatusRequestHeaderFieldsTooLarge,
			wantIs: ErrTooManyHeaders,
		},
		{
			name:   "headers too large",
			req:    validRequest("/", "Cookie: "+strings.Repeat("c", 9000)+"\r\n"),
			status: http.StatusRequestHeaderFieldsTooLarge,
			wantIs: ErrHeaderTooLarge,
		},
		{
			name:   "headers over a custom limit",
			req:    validRequest("/", "Cookie: "+strings.Repeat("c", 200)+"\r\n"),
			cfg:    &UpgradeConfig{MaxHeaderBytes: 256},
			status: http.StatusRequestHeaderFieldsTooLarge,
			wantIs: ErrHeaderTooLarge,
		},
		{
			name:   "data after the request",
			req:    validRequest("/") + "\x81\x80abcd",
			status: http.StatusBadRequest,
			wantIs: ErrEarlyData,
		},
		{
			name: "hook with a status",
			req:  validRequest("/private"),
			cfg: &UpgradeConfig{Check: func(h *Handshake) error {
				return &RejectError{Status: http.StatusUnauthorized, Reason: "token required for " + h.Path}
			}},
			status:   http.StatusUnauthorized,
			wantBody: "token required for /private",
		},
		{
			name: "hook with a plain error",
			req:  validRequest("/"),
			cfg: &UpgradeConfig{Check: func(*Handshake) error {
				return errHook
			}},
			status:   http.StatusForbidden,
			wantIs:   errHook,
			wantBody: "forbidden",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEchoServer(t, tt.cfg)
			conn, err := net.Dial("tcp", srv.addr())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			_ = conn.SetDeadline(time.Now().Add(5 * time.Second))
			if _, err := io.WriteString(conn, tt.req); err != nil {
				t.Fatal(err)
			}
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			if err != nil {
				t.Fatalf(
					"reading the response: %v",
					err,
				)
			}
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.status {
				t.Fatalf(
					"status %d (%s), want %d",
					resp.StatusCode, body, tt.status,
				)
			}
			if k := tt.wantHeader[0]; k != "" && resp.Header.Get(k) != tt.wantHeader[1] {
				t.Fatalf(
					"header %s = %q, want %q",
					k, resp.Header.Get(k), tt.wantHeader[1],
				)
			}
			if tt.wantBody != "" && string(body) != tt.wantBody {
				t.Fatalf(
					"body %q, want %q",
					body, tt.wantBody,
				)
			}
			r := srv.result(t)
			var rej *RejectError
			if !errors.As(r.err, &rej) || rej.Status != tt.status {
				t.Fatalf(
					"Upgrade error %v, want *RejectError %d",
					r.err, tt.status,
				)
			}
			if tt.wantIs != nil && !errors.Is(r.err, tt.wantIs) {
				t.Fatalf(
					"Upgrade error %v does not wrap %v",
					r.err, tt.wantIs,
				)
			}
		})
	}
}

func TestUpgradeIOErrorWritesNothing(t *testing.T) {
	server, client := net.Pipe()
	defer server.Close()
	go func() {
		_, _ = io.WriteString(client, "GET / HTTP/1.1\r\nHost: x\r\n")
		_ = client.Close()
	}()
	_, err := Upgrade(server, nil)
	var rej *RejectError
	if err == nil || errors.As(err, &rej) || !errors.Is(err, io.EOF) {
		t.Fatalf(
			"Upgrade on a cut request: %v, want a wrapped io.EOF",
			err,
		)
	}
}

func TestOriginAllowed(t *testing.T) {
	tests := []struct {
		patterns []string
		origin   string
		want     bool
	}{
		{patterns: nil, origin: "https://any.test", want: true},
		{patterns: []string{"example.com"}, origin: "", want: true},
		{patterns: []string{"example.com"}, origin: "https://example.com", want: true},
		{patterns: []string{"example.com"}, origin: "http://EXAMPLE.com:8080", want: true},
		{patterns: []string{"example.com:8080"}, origin: "http://example.com:8080", want: true},
		{patterns: []string{"example.com:8080"}, origin: "http://example.com:9090", want: false},
		{patterns: []string{"example.com"}, origin: "https://evil-example.com", want: false},
		{patterns: []string{"*.example.com"}, origin: "https://a.b.example.com", want: true},
		{patterns: []string{"*.example.com"}, origin: "https://example.com", want: false},
		{patterns: []string{"*.example.com"}, origin: "https://evilexample.com", want: false},
		{patterns: []string{"https://example.com"}, origin: "https://example.com", want: true},
		{patterns: []string{"https://example.com"}, origin: "http://example.com", want: false},
		{patterns: []string{"https://*.example.com"}, origin: "https://app.example.com", want: true},
		{patterns: []string{"https://*.example.com"}, origin: "http://app.example.com", want: false},
		{patterns: []string{"a.test", "b.test"}, origin: "https://b.test", want: true},
		{patterns: []string{"*"}, origin: "null", want: true},
		{patterns: []string{"example.com"}, origin: "null", want: false},
		{patterns: []string{"*example.com"}, origin: "https://badexample.com", want: false},
	}
	for _, tt := range tests {
		if got := originAllowed(tt.patterns, tt.origin); got != tt.want {
			t.Errorf(
				"originAllowed(%q, %q) = %v, want %v",
				tt.patterns, tt.origin, got, tt.want,
			)
		}
	}
}

func TestSplitTarget(t *testing.T) {
	tests := []struct {
		uri, path, query string
		ok               bool
	}{
		{uri: "/", path: "/", ok: true},
		{uri: "/a/b?c=d&e", path: "/a/b", query: "c=d&e", ok: true},
		{uri: "/r%C3%A9m?q=%20", path: "/rém", query: "q=%20", ok: true},
		{uri: "ws://example.com/chat?x=1", path: "/chat", query: "x=1", ok: true},
		{uri: "https://example.com", path: "/", ok: true},
		{uri: "A:"},
		{uri: "mailto:x@y"},
		{uri: "ftp://example.com/x"},
		{uri: "*"},
		{uri: "no-slash"},
		{uri: "//host/path", path: "//host/path", ok: true},
		{uri: "/bad%zz"},
		{uri: ""},
	}
	for _, tt := range tests {
		path, query, ok := splitTarget(tt.uri)
		if ok != tt.ok || path != tt.path || query != tt.query {
			t.Errorf(
				"splitTarget(%q) = %q, %q, %v; want %q, %q, %v",
				tt.uri, path, query, ok, tt.path, tt.query, tt.ok,
			)
		}
	}
}
