package main

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// dialCompressing dials with a client that offers permessage-deflate,
// retrying until the listener is up, and returns the connection and the
// Sec-WebSocket-Extensions the server answered.
func dialCompressing(t *testing.T, s *started, url string) (*websocket.Conn, string) {
	t.Helper()
	d := websocket.Dialer{EnableCompression: true, HandshakeTimeout: 2 * time.Second}
	deadline := time.Now().Add(adminWait)
	for {
		c, resp, err := d.Dial(url, nil)
		if err == nil {
			t.Cleanup(func() { _ = c.Close() })
			return c, resp.Header.Get("Sec-WebSocket-Extensions")
		}
		if time.Now().After(deadline) {
			t.Fatalf("dial %s: %v; output:\n%s", url, err, s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// TestGatewayCompressionFlags: `gateway` accepts permessage-deflate by
// default and not with --compression=false.
func TestGatewayCompressionFlags(t *testing.T) {
	noLeaks(t)
	for _, tt := range []struct {
		flags []string
		want  bool
	}{{nil, true}, {[]string{"--compression=false"}, false}} {
		a := freeAddrs(t, 2)
		gw := start(t, append([]string{"gateway", "--listen", a[0], "--lan", a[1], "--register="}, tt.flags...)...)
		_, ext := dialCompressing(t, gw, "ws://"+a[0]+"/")
		if got := strings.HasPrefix(ext, "permessage-deflate"); got != tt.want {
			t.Errorf("gateway %v: Sec-WebSocket-Extensions %q", tt.flags, ext)
		}
	}
}

// TestDemoCompressionFlags runs the demo's chat with a compressing client:
// by default a long message comes back compressed, with
// --compression-threshold above its size uncompressed, and with
// --compression=false compression is not negotiated; the chat works in
// each case.
func TestDemoCompressionFlags(t *testing.T) {
	noLeaks(t)
	text := strings.Repeat("compress me, ", 100)
	for _, tt := range []struct {
		name       string
		flags      []string
		negotiated bool
		compressed float64 // compressed_messages_sent_total after the message
	}{
		{"default", nil, true, 1},
		{"threshold", []string{"--compression-threshold", "100000"}, true, 0},
		{"off", []string{"--compression=false"}, false, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			a := freeAddrs(t, 4)
			wsAddr, lanAddr, regAddr, httpAddr := a[0], a[1], a[2], a[3]
			demo := start(t, append([]string{"demo", "--listen", wsAddr, "--lan", lanAddr, "--register-listen", regAddr,
				"--http", httpAddr, "--tick", "0"}, tt.flags...)...)
			base := "http://" + httpAddr
			waitStatus(t, demo, base+"/readyz", http.StatusOK, "ready")
			c, ext := dialCompressing(t, demo, "ws://"+wsAddr+"/?nick=z")
			if got := strings.HasPrefix(ext, "permessage-deflate"); got != tt.negotiated {
				t.Fatalf("Sec-WebSocket-Extensions %q", ext)
			}
			negotiated := 0.0
			if tt.negotiated {
				negotiated = 1
			}
			waitValue(t, base+"/metrics", "gatewayworker_gateway_compressed_connections", negotiated)
			if err := c.WriteMessage(websocket.TextMessage, []byte(`{"type":"say","text":"`+text+`"}`)); err != nil {
				t.Fatal(err)
			}
			_ = c.SetReadDeadline(time.Now().Add(adminWait))
			for {
				_, m, err := c.ReadMessage()
				if err != nil {
					t.Fatalf("read: %v; output:\n%s", err, demo.out.String())
				}
				if strings.Contains(string(m), text) {
					break
				}
			}
			waitValue(t, base+"/metrics", "gatewayworker_gateway_compressed_messages_sent_total", tt.compressed)
			waitValue(t, base+"/metrics", "gatewayworker_gateway_protocol_error_closes_total", 0)
		})
	}
}
