package main

import (
	"context"
	"net"
	"net/http"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/internal/proxyproto"
)

// refusals returns gatewayworker_gateway_handshake_refusals_total{cause}.
func refusals(t *testing.T, url, cause string) float64 {
	t.Helper()
	f := scrapeFamilies(t, url)["gatewayworker_gateway_handshake_refusals_total"]
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "cause" && l.GetValue() == cause {
				return m.GetCounter().GetValue()
			}
		}
	}
	return -1
}

// waitRefusals polls until the refusal counter of cause reaches want.
func waitRefusals(t *testing.T, url, cause string, want float64) {
	t.Helper()
	deadline := time.Now().Add(adminWait)
	for {
		got := refusals(t, url, cause)
		if got == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("refusals{cause=%q} = %v, want %v", cause, got, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialDemo connects a gorilla client, returning the connection and the
// HTTP status (101 on success).
func dialDemo(t *testing.T, d websocket.Dialer, addr string, hdr http.Header) (*websocket.Conn, int) {
	t.Helper()
	d.HandshakeTimeout = 5 * time.Second
	c, resp, err := d.Dial("ws://"+addr+"/", hdr)
	if err != nil {
		if resp == nil {
			return nil, 0
		}
		return nil, resp.StatusCode
	}
	t.Cleanup(func() { _ = c.Close() })
	return c, http.StatusSwitchingProtocols
}

// echoChat sends text on c and waits for the chat's broadcast of it.
func echoChat(t *testing.T, c *websocket.Conn, text string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(text)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		_, msg, err := c.ReadMessage()
		if err != nil {
			t.Fatalf("waiting for %q: %v", text, err)
		}
		if string(msg) == text {
			return
		}
	}
}

// `gatewayworker demo` with --subprotocols, --max-connections-per-ip,
// --max-handshakes and --trusted-proxies, driven by gorilla/websocket and
// raw sockets; refusals are read back from /metrics.
func TestDemoSubprotocolAndLimitFlags(t *testing.T) {
	noLeaks(t)
	a := freeAddrs(t, 4)
	wsAddr, httpAddr := a[0], a[3]
	demo := start(t, "demo", "--listen", wsAddr, "--lan", a[1], "--register-listen", a[2], "--http", httpAddr,
		"--subprotocols", "chat.v1", "--max-connections-per-ip", "2", "--max-handshakes", "1",
		"--trusted-proxies", "127.0.0.1/32")
	metrics := "http://" + httpAddr + "/metrics"
	waitStatus(t, demo, "http://"+httpAddr+"/readyz", 200, "ready")

	// Subprotocol chosen and the chat works over it.
	c1, code := dialDemo(t, websocket.Dialer{Subprotocols: []string{"mqtt", "chat.v1"}}, wsAddr, nil)
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("dial: status %d; output:\n%s", code, demo.out.String())
	}
	if c1.Subprotocol() != "chat.v1" {
		t.Fatalf("subprotocol %q", c1.Subprotocol())
	}
	echoChat(t, c1, "one: hi")

	// Two connections per address; the third from 127.0.0.1 gets 503.
	if _, code := dialDemo(t, websocket.Dialer{}, wsAddr, nil); code != http.StatusSwitchingProtocols {
		t.Fatalf("second: status %d", code)
	}
	// With --max-handshakes 1, the third may first meet the second's
	// handshake still counted in progress (released just after its 101):
	// also a 503, counted as max_handshakes. Dial again until the address
	// limit is the one that refused.
	for deadline := time.Now().Add(adminWait); refusals(t, metrics, "connections_per_ip") < 1; time.Sleep(20 * time.Millisecond) {
		if _, code := dialDemo(t, websocket.Dialer{}, wsAddr, nil); code != http.StatusServiceUnavailable {
			t.Fatalf("third: status %d, want 503", code)
		}
		if time.Now().After(deadline) {
			t.Fatal("no refusal counted for connections_per_ip")
		}
	}

	// 127.0.0.1 is a trusted proxy: a client it forwards counts as itself.
	hdr := http.Header{"X-Forwarded-For": {"198.51.100.7"}}
	fwd, code := dialDemo(t, websocket.Dialer{}, wsAddr, hdr)
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("forwarded client: status %d", code)
	}
	echoChat(t, fwd, "fwd: hi")

	// A socket that sends nothing holds the one handshake slot: the next
	// client gets 503 until it goes.
	idle, err := net.Dial("tcp", wsAddr)
	if err != nil {
		t.Fatal(err)
	}
	waitValueAtLeast := func() {
		deadline := time.Now().Add(adminWait)
		for {
			_, code := dialDemo(t, websocket.Dialer{}, wsAddr, http.Header{"X-Forwarded-For": {"198.51.100.8"}})
			if code == http.StatusServiceUnavailable {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("no 503 while a handshake is in progress (status %d)", code)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitValueAtLeast()
	if got := refusals(t, metrics, "max_handshakes"); got < 1 {
		t.Fatalf("max_handshakes refusals = %v", got)
	}
	_ = idle.Close()
	deadline := time.Now().Add(adminWait)
	for {
		if _, code := dialDemo(t, websocket.Dialer{}, wsAddr, http.Header{"X-Forwarded-For": {"198.51.100.9"}}); code == http.StatusSwitchingProtocols {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no room after the idle socket closed")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// `gatewayworker demo --proxy-protocol --handshake-rate-per-ip`: clients
// behind a PROXY protocol balancer are limited by their own address.
func TestDemoProxyProtocolAndRateFlags(t *testing.T) {
	noLeaks(t)
	a := freeAddrs(t, 4)
	wsAddr, httpAddr := a[0], a[3]
	demo := start(t, "demo", "--listen", wsAddr, "--lan", a[1], "--register-listen", a[2], "--http", httpAddr,
		"--proxy-protocol", "--handshake-rate-per-ip", "0.01", "--handshake-burst-per-ip", "2")
	metrics := "http://" + httpAddr + "/metrics"
	waitStatus(t, demo, "http://"+httpAddr+"/readyz", 200, "ready")

	// A dialer that acts as the balancer: a PROXY header for src first.
	via := func(src string, v2 bool) websocket.Dialer {
		return websocket.Dialer{NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort("10.0.0.1:443")
			h := proxyproto.AppendV1(nil, s, d)
			if v2 {
				h = proxyproto.AppendV2(nil, s, d, nil)
			}
			if _, err := nc.Write(h); err != nil {
				nc.Close()
				return nil, err
			}
			return nc, nil
		}}
	}
	c, code := dialDemo(t, via("203.0.113.7:1000", false), wsAddr, nil)
	if code != http.StatusSwitchingProtocols {
		t.Fatalf("v1: status %d; output:\n%s", code, demo.out.String())
	}
	echoChat(t, c, "v1: hi")
	if _, code := dialDemo(t, via("203.0.113.7:1001", true), wsAddr, nil); code != http.StatusSwitchingProtocols {
		t.Fatalf("v2: status %d", code)
	}
	// The third handshake of 203.0.113.7 is over its rate; another client
	// behind the same balancer is not.
	if _, code := dialDemo(t, via("203.0.113.7:1002", true), wsAddr, nil); code != http.StatusTooManyRequests {
		t.Fatalf("third of one client: status %d, want 429", code)
	}
	if _, code := dialDemo(t, via("203.0.113.8:1000", true), wsAddr, nil); code != http.StatusSwitchingProtocols {
		t.Fatalf("another client: status %d", code)
	}
	waitRefusals(t, metrics, "rate_per_ip", 1)

	// Without a PROXY header: closed, counted.
	if _, code := dialDemo(t, websocket.Dialer{}, wsAddr, nil); code != 0 {
		t.Fatalf("no header: status %d, want the connection closed", code)
	}
	waitRefusals(t, metrics, "proxy_header", 1)
}
