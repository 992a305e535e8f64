package wsconn

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The server picks the first protocol of the client's offer that it
// supports, names it in the response, and a real client sees it; the Check
// hook may choose another offered one or none; a choice the client did not
// offer is refused with 500.
func TestUpgradeSubprotocol(t *testing.T) {
	tests := []struct {
		name    string
		offer   []string
		support []string
		check   func(*Handshake) error
		want    string
	}{
		{name: "first of the offer that is supported", offer: []string{"graphql-ws", "chat.v2", "chat.v1"}, support: []string{"chat.v1", "chat.v2"}, want: "chat.v2"},
		{name: "none supported", offer: []string{"mqtt"}, support: []string{"chat.v1"}, want: ""},
		{name: "no offer", support: []string{"chat.v1"}, want: ""},
		{name: "nothing supported", offer: []string{"chat.v1"}, want: ""},
		{name: "hook chooses another", offer: []string{"a", "b"}, support: []string{"a", "b"},
			check: func(h *Handshake) error {
				if h.Protocol != "a" || len(h.Protocols) != 2 {
					t.Errorf("hook saw %q of %q", h.Protocol, h.Protocols)
				}
				h.Protocol = "b"
				return nil
			}, want: "b"},
		{name: "hook chooses none", offer: []string{"a"}, support: []string{"a"},
			check: func(h *Handshake) error { h.Protocol = ""; return nil }, want: ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := startEchoServer(t, &UpgradeConfig{Protocols: tt.support, Check: tt.check})
			d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: tt.offer}
			c, resp, err := d.Dial("ws://"+srv.addr()+"/", nil)
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			if got := c.Subprotocol(); got != tt.want {
				t.Fatalf("client sees subprotocol %q, want %q", got, tt.want)
			}
			if got := resp.Header.Values("Sec-WebSocket-Protocol"); tt.want == "" && len(got) != 0 {
				t.Fatalf("response names %q", got)
			}
			r := srv.result(t)
			if r.err != nil || r.hs.Protocol != tt.want || strings.Join(r.hs.Protocols, ",") != strings.Join(tt.offer, ",") {
				t.Fatalf("server: err %v, chose %q of %q", r.err, r.hs.Protocol, r.hs.Protocols)
			}
			if err := c.WriteMessage(websocket.TextMessage, []byte("hi")); err != nil {
				t.Fatal(err)
			}
			if _, msg, err := c.ReadMessage(); err != nil || string(msg) != "hi" {
				t.Fatalf("echo: %q %v", msg, err)
			}
		})
	}
}

func TestUpgradeSubprotocolParsing(t *testing.T) {
	req := validRequest("/", "Sec-WebSocket-Protocol: x , chat.v1,,\r\n", "Sec-WebSocket-Protocol: y\r\n")
	c := &memConn{in: bytes.NewReader([]byte(req))}
	hs, err := Upgrade(c, &UpgradeConfig{Protocols: []string{"y", "chat.v1"}})
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(hs.Protocols, "|") != "x|chat.v1|y" || hs.Protocol != "chat.v1" {
		t.Fatalf("offer %q, chose %q", hs.Protocols, hs.Protocol)
	}
	if !strings.Contains(c.out.String(), "\r\nSec-WebSocket-Protocol: chat.v1\r\n") {
		t.Fatalf("response:\n%s", c.out.String())
	}

	// A hook choosing what the client did not offer is a server bug: 500.
	c = &memConn{in: bytes.NewReader([]byte(validRequest("/", "Sec-WebSocket-Protocol: a\r\n")))}
	_, err = Upgrade(c, &UpgradeConfig{Check: func(h *Handshake) error { h.Protocol = "b"; return nil }})
	if err == nil || !strings.HasPrefix(c.out.String(), "HTTP/1.1 500") {
		t.Fatalf("err %v, response %q", err, c.out.String())
	}
	if resp := c.out.String(); strings.Contains(resp, "Sec-WebSocket-Protocol") {
		t.Fatalf("refusal names a protocol: %q", resp)
	}
}

func TestValidProtocol(t *testing.T) {
	for p, want := range map[string]bool{
		"chat.v1": true, "graphql-transport-ws": true, "v12.stomp": true, "mqtt": true,
		"": false, "a b": false, "a,b": false, "a\r\nX: y": false, "é": false, "a/b": false,
	} {
		if got := ValidProtocol(p); got != want {
			t.Errorf("ValidProtocol(%q) = %v", p, got)
		}
	}
}
