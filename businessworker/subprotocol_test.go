package businessworker

import (
	"context"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// A worker's handler sees the subprotocol the gateway chose, and the real
// client address forwarded by a trusted proxy, in its handshake data.
func TestHandshakeSubprotocolAndForwardedAddress(t *testing.T) {
	reg, err := register.New(register.Config{Secret: "s3cret"})
	if err != nil {
		t.Fatal(err)
	}
	rl := listen(t)
	serve(t, "register", func(ctx context.Context) error { return reg.Serve(ctx, rl) })
	gw, err := gateway.New(gateway.Config{Secret: "s3cret", Registers: []string{rl.Addr().String()}, DrainTimeout: time.Second,
		Subprotocols: []string{"chat.v1"}, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}})
	if err != nil {
		t.Fatal(err)
	}
	pub, lan := listen(t), listen(t)
	serve(t, "gateway", func(ctx context.Context) error { return gw.Serve(ctx, pub, lan) })
	c := &cluster{t: t, register: rl.Addr().String(), public: pub.Addr().String(), gw: gw}
	h := &chat{}
	c.worker(h)

	d := websocket.Dialer{HandshakeTimeout: 5 * time.Second, Subprotocols: []string{"graphql-ws", "chat.v1"}}
	ws, _, err := d.Dial("ws://"+c.public+"/?name=sub", map[string][]string{"X-Forwarded-For": {"198.51.100.23"}})
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	if got := read(t, ws); got != "welcome sub" {
		t.Fatalf("got %q", got)
	}
	h.mu.Lock()
	hs := h.hs[h.ids[0]]
	h.mu.Unlock()
	if hs.Subprotocol != "chat.v1" || ws.Subprotocol() != "chat.v1" {
		t.Fatalf("worker sees subprotocol %q, client %q", hs.Subprotocol, ws.Subprotocol())
	}
	if hs.RemoteAddr != "198.51.100.23:0" {
		t.Fatalf("worker sees address %q", hs.RemoteAddr)
	}
}
