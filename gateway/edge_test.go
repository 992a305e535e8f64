package gateway

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"net"
	"net/http"
	"net/netip"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/internal/proxyproto"
	"github.com/gatewayworker/gatewayworker/internal/tlsconf/tlsconftest"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Issue 12: subprotocols, per-address limits, PROXY protocol and
// X-Forwarded-For, end to end with real clients and a linked worker.

func TestSubprotocolNegotiated(t *testing.T) {
	tg := startGateway(t, Config{
		Subprotocols: []string{"chat.v1", "chat.v2"},
		OnHandshake: func(h *Handshake) error {
			if h.Header("X-Legacy") != "" && h.Subprotocol != "" {
				h.Subprotocol = "chat.v1" // the hook may choose another offered one
			}
			return nil
		},
	})
	w := dialLink(t, tg.lan, "", "w1", true)

	tests := []struct {
		name   string
		offer  []string
		legacy bool
		want   string
	}{
		{"first of the client's offer that is supported", []string{"graphql-ws", "chat.v2", "chat.v1"}, false, "chat.v2"},
		{"none supported", []string{"mqtt"}, false, ""},
		{"no offer", nil, false, ""},
		{"the hook's choice", []string{"chat.v2", "chat.v1"}, true, "chat.v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := websocket.Dialer{HandshakeTimeout: waitFor, Subprotocols: tt.offer}
			hdr := http.Header{}
			if tt.legacy {
				hdr.Set("X-Legacy", "1")
			}
			c, _, err := d.Dial("ws://"+tg.public+"/", hdr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if got := c.Subprotocol(); got != tt.want {
				t.Fatalf("client sees %q, want %q", got, tt.want)
			}
			ev := w.connectEvent()
			if got := ev.GetConnect().GetSubprotocol(); got != tt.want {
				t.Fatalf("worker sees %q, want %q", got, tt.want)
			}
			// The connection works: a message goes through to the worker.
			if err := c.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
				t.Fatal(err)
			}
			if m := w.event().GetMessage(); string(m.GetData()) != "hello" {
				t.Fatalf("message %q", m.GetData())
			}
			_ = c.Close()
			for w.event().GetClose() == nil {
			}
		})
	}
	if _, err := New(Config{Subprotocols: []string{"a b"}}); err == nil {
		t.Fatal("a subprotocol that is not a token was accepted")
	}
}

func TestMaxConnectionsPerIP(t *testing.T) {
	tg := startGateway(t, Config{MaxConnectionsPerIP: 2})
	a := upgradeRaw(t, tg.public)
	upgradeRaw(t, tg.public)
	third := dialRaw(t, tg.public)
	if resp := third.request(upgradeRequest("/")); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third client: status %d, want 503", resp.StatusCode)
	}
	if st := tg.Stats(); st.OverConnectionsIP != 1 || st.Rejected != 1 {
		t.Fatalf("refusals counted: %+v", st)
	}
	// A closed client frees its slot.
	_ = a.nc.Close()
	eventually(t, "slot freed", func() bool { return tg.Stats().Clients == 1 })
	c := upgradeRaw(t, tg.public)
	if n := tg.edge.limiter.Len(); n != 1 {
		t.Fatalf("limiter tracks %d addresses", n)
	}
	// Everything gone: nothing kept per address.
	_ = c.nc.Close()
	tg.hub.forEach(func(cc *conn) { cc.close(1000, "", closeReply) })
	eventually(t, "clients gone", func() bool { return tg.Stats().Clients == 0 })
	tg.edge.mu.Lock()
	kept := len(tg.edge.addrs)
	tg.edge.mu.Unlock()
	if n := tg.edge.limiter.Len(); n != 0 || kept != 0 {
		t.Fatalf("after the last client: limiter %d addresses, %d kept", n, kept)
	}
}

func TestHandshakeRatePerIP(t *testing.T) {
	tg := startGateway(t, Config{HandshakeRatePerIP: 0.01, HandshakeBurstPerIP: 3})
	for range 3 {
		c := upgradeRaw(t, tg.public)
		_ = c.nc.Close() // closing does not give the tokens back
	}
	c := dialRaw(t, tg.public)
	if resp := c.request(upgradeRequest("/")); resp.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("fourth handshake: status %d, want 429", resp.StatusCode)
	}
	// Accepted is counted once the upgrade is done on the gateway's side,
	// which may come just after the client read its 101.
	eventually(t, "counted", func() bool { st := tg.Stats(); return st.OverHandshakeRate == 1 && st.Accepted == 3 })
	eventually(t, "clients gone", func() bool { return tg.Stats().Clients == 0 })
}

// proxied dials the gateway as a load balancer would: a PROXY header (v1
// or v2) for src, then the client's upgrade request.
func proxied(t *testing.T, addr string, v2 bool, src netip.AddrPort) (*rawConn, *http.Response) {
	t.Helper()
	c := dialRaw(t, addr)
	dst := netip.MustParseAddrPort("10.0.0.1:443")
	if src.Addr().Is6() {
		dst = netip.MustParseAddrPort("[2001:db8::443]:443")
	}
	var hdr []byte
	if v2 {
		hdr = proxyproto.AppendV2(nil, src, dst, []byte{0x01, 0x00, 0x02, 'h', '2'}) // an ALPN TLV
	} else {
		hdr = proxyproto.AppendV1(nil, src, dst)
	}
	c.write(hdr)
	return c, c.request(upgradeRequest("/"))
}

func TestProxyProtocol(t *testing.T) {
	tg := startGateway(t, Config{ProxyProtocol: true, MaxConnectionsPerIP: 1})
	w := dialLink(t, tg.lan, "", "w1", true)

	src1 := netip.MustParseAddrPort("203.0.113.7:51234")
	src2 := netip.MustParseAddrPort("[2001:db8:77::1]:40000")
	for _, tc := range []struct {
		v2  bool
		src netip.AddrPort
	}{{false, src1}, {true, src2}} {
		c, resp := proxied(t, tg.public, tc.v2, tc.src)
		if resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("v2=%v: status %d", tc.v2, resp.StatusCode)
		}
		ev := w.connectEvent()
		if got := ev.GetConnect().GetRemoteAddr(); got != tc.src.String() {
			t.Fatalf("worker sees %q, want %q", got, tc.src)
		}
		// The connection carries messages after the header and the upgrade.
		c.write(maskedFrame(0x1, "hi"))
		if m := w.event().GetMessage(); string(m.GetData()) != "hi" {
			t.Fatalf("message %q", m.GetData())
		}
	}
	// Queries report the real address too.
	res := w.query(&pb.Query{Kind: pb.Query_KIND_CLIENTS})
	seen := map[string]bool{}
	for _, ci := range res.GetClients() {
		seen[ci.GetRemoteAddr()] = true
	}
	if !seen[src1.String()] || !seen[src2.String()] {
		t.Fatalf("client list shows %v", seen)
	}

	// Per-address limits count the real client: the same source again is
	// refused although every connection comes from 127.0.0.1.
	if _, resp := proxied(t, tg.public, true, netip.MustParseAddrPort("203.0.113.7:6000")); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second connection of one client: status %d, want 503", resp.StatusCode)
	}
	if _, resp := proxied(t, tg.public, false, netip.MustParseAddrPort("198.51.100.9:6000")); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("another client: status %d", resp.StatusCode)
	}
	w.connectEvent()

	// A LOCAL header (a health check) stands for the balancer itself.
	c := dialRaw(t, tg.public)
	c.write(proxyproto.AppendV2Local(nil))
	if resp := c.request(upgradeRequest("/")); resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("LOCAL: status %d", resp.StatusCode)
	}
	if got := w.connectEvent().GetConnect().GetRemoteAddr(); netip.MustParseAddrPort(got).Addr() != netip.MustParseAddr("127.0.0.1") {
		t.Fatalf("LOCAL: worker sees %q", got)
	}

	// Without the header, or with a broken one: closed, no response.
	for _, first := range []string{upgradeRequest("/"), "PROXY TCP4 1.2.3.4 5.6.7.8 99999 1\r\n" + upgradeRequest("/")} {
		c := dialRaw(t, tg.public)
		c.write([]byte(first))
		c.expectEOF()
	}
	if st := tg.Stats(); st.ProxyHeaderRefused != 2 || st.OverConnectionsIP != 1 {
		t.Fatalf("counted: %+v", st)
	}
}

// With TrustedProxies, a PROXY header is taken only from a trusted peer.
func TestProxyProtocolUntrustedPeer(t *testing.T) {
	tg := startGateway(t, Config{ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8")}})
	c := dialRaw(t, tg.public)
	// Closed without reading: the write may fail already.
	_, _ = c.nc.Write(append(proxyproto.AppendV1(nil, netip.MustParseAddrPort("203.0.113.7:1"), netip.MustParseAddrPort("10.0.0.1:2")), upgradeRequest("/")...))
	c.expectEOF()
	eventually(t, "refusal counted", func() bool { return tg.Stats().ProxyHeaderRefused == 1 })
}

func TestTrustedProxiesForwardedFor(t *testing.T) {
	xff := "X-Forwarded-For: 6.6.6.6, 198.51.100.7\r\n"
	t.Run("trusted", func(t *testing.T) {
		tg := startGateway(t, Config{
			TrustedProxies:      []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")},
			MaxConnectionsPerIP: 1,
			OnHandshake: func(h *Handshake) error {
				if h.Header("X-Forwarded-For") != "" && h.RemoteAddr != "198.51.100.7:0" {
					t.Errorf("hook sees %q", h.RemoteAddr)
				}
				return nil
			},
		})
		w := dialLink(t, tg.lan, "", "w1", true)
		c := dialRaw(t, tg.public)
		if resp := c.request(upgradeRequest("/", xff)); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if got := w.connectEvent().GetConnect().GetRemoteAddr(); got != "198.51.100.7:0" {
			t.Fatalf("worker sees %q", got)
		}
		// The limit counts the forwarded client: the same client again is
		// refused, a direct connection from the proxy's address is not.
		c2 := dialRaw(t, tg.public)
		if resp := c2.request(upgradeRequest("/", "X-Forwarded-For: 198.51.100.7\r\n")); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("same client: status %d, want 503", resp.StatusCode)
		}
		upgradeRaw(t, tg.public)
	})
	t.Run("not trusted", func(t *testing.T) {
		tg := startGateway(t, Config{})
		w := dialLink(t, tg.lan, "", "w1", true)
		c := dialRaw(t, tg.public)
		if resp := c.request(upgradeRequest("/", xff)); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("status %d", resp.StatusCode)
		}
		got := w.connectEvent().GetConnect().GetRemoteAddr()
		if ap := netip.MustParseAddrPort(got); ap.Addr() != netip.MustParseAddr("127.0.0.1") || ap.Port() == 0 {
			t.Fatalf("worker sees %q, want the socket's peer", got)
		}
	})
}

// With TLS on the gateway, the PROXY header comes before the TLS handshake.
func TestProxyProtocolBeforeTLS(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 1, certFile, keyFile))
	r, err := NewCertReloader(CertReloaderConfig{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	tg := startTLSGateway(t, Config{ProxyProtocol: true, Subprotocols: []string{"chat.v1"}}, r)
	w := dialLink(t, tg.lan, "", "w1", true)
	src := netip.MustParseAddrPort("203.0.113.50:4444")
	d := websocket.Dialer{
		TLSClientConfig:  &tls.Config{RootCAs: roots},
		HandshakeTimeout: waitFor,
		Subprotocols:     []string{"chat.v1"},
		NetDialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			if _, err := nc.Write(proxyproto.AppendV2(nil, src, netip.MustParseAddrPort("10.0.0.1:443"), nil)); err != nil {
				nc.Close()
				return nil, err
			}
			return nc, nil
		},
	}
	c, _, err := d.Dial("wss://"+tg.public+"/", nil)
	if err != nil {
		t.Fatalf("wss dial through a PROXY header: %v", err)
	}
	defer c.Close()
	ev := w.connectEvent().GetConnect()
	if ev.GetRemoteAddr() != src.String() || ev.GetSubprotocol() != "chat.v1" || c.Subprotocol() != "chat.v1" {
		t.Fatalf("worker sees %q / %q, client %q", ev.GetRemoteAddr(), ev.GetSubprotocol(), c.Subprotocol())
	}
}

// Invalid UTF-8 closes 1007 as soon as it arrives: the client sends the
// header of a 64 KiB text frame and its first bytes, the invalid one among
// them, and then nothing (or the first fragment of a message and the start
// of a continuation): the close comes at once, long before FrameTimeout,
// for a plain (polled) and a TLS-less client alike.
func TestUTF8FailFastOverTheWire(t *testing.T) {
	const frameTimeout = 20 * time.Second
	tg := startGateway(t, Config{FrameTimeout: frameTimeout})
	w := dialLink(t, tg.lan, "", "w1", true)
	partial := func(op byte, fin bool, declared int, sent string) []byte {
		full := rawFrame(fin, 0, op, true, append([]byte(sent), make([]byte, declared-len(sent))...))
		hdr := len(full) - declared
		return full[:hdr+len(sent)]
	}
	cases := []struct {
		name string
		send [][]byte
	}{
		{"inside one frame", [][]byte{partial(rawText, true, 64<<10, "valid text, then \xff")}},
		{"inside a continuation", [][]byte{fragFrame(false, rawText, "part one "), partial(rawCont, true, 64<<10, "part two \xe2\x28")}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := upgradeRaw(t, tg.public)
			w.connectEvent()
			start := time.Now()
			for _, b := range tc.send {
				c.write(b)
			}
			c.expectClose(1007)
			if d := time.Since(start); d > frameTimeout/4 {
				t.Fatalf("1007 after %v: not at the first invalid byte", d)
			}
			for w.event().GetClose() == nil {
			}
		})
	}
}

// A burst of handshakes from one address, 8 clients in a loop (1,500
// attempts or half a second), against a rate of 100/s (burst 50) and 30
// connections per address: exactly 30 are admitted, refused ones are 503
// while tokens last and 429 after, and the tokens spent never pass
// burst + rate x elapsed.
func TestPerIPLimitsUnderBurst(t *testing.T) {
	tg := startGateway(t, Config{HandshakeRatePerIP: 100, HandshakeBurstPerIP: 50, MaxConnectionsPerIP: 30})
	var mu sync.Mutex
	statuses := map[int]int{}
	var open []net.Conn
	defer func() {
		for _, c := range open {
			_ = c.Close()
		}
	}()
	start := time.Now()
	end := start.Add(500 * time.Millisecond)
	var attempts atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for time.Now().Before(end) && attempts.Add(1) <= 1500 {
				nc, err := net.DialTimeout("tcp", tg.public, waitFor)
				if err != nil {
					t.Error(err)
					return
				}
				_ = nc.SetDeadline(time.Now().Add(waitFor))
				_, _ = nc.Write([]byte(upgradeRequest("/")))
				code := 0
				if resp, err := http.ReadResponse(bufio.NewReader(nc), nil); err == nil {
					code = resp.StatusCode
				}
				mu.Lock()
				statuses[code]++
				if code == http.StatusSwitchingProtocols {
					open = append(open, nc)
				} else {
					_ = nc.Close()
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	st := tg.Stats()
	t.Logf("%v in %v: statuses %v; stats: accepted %d, 503 per address %d, 429 %d",
		st.Accepted+st.Rejected, elapsed.Round(time.Millisecond), statuses, st.Accepted, st.OverConnectionsIP, st.OverHandshakeRate)
	if statuses[101] != 30 || st.Accepted != 30 {
		t.Fatalf("%d admitted, want 30", statuses[101])
	}
	tokens := statuses[101] + statuses[503]
	if statuses[503] < 1 || float64(tokens) > 50+100*elapsed.Seconds()+1 {
		t.Fatalf("%d handshakes passed the rate in %v (burst 50, 100/s)", tokens, elapsed)
	}
	if statuses[429] == 0 || uint64(statuses[429]) != st.OverHandshakeRate || uint64(statuses[503]) != st.OverConnectionsIP || statuses[0] != 0 {
		t.Fatalf("statuses %v, stats %+v", statuses, st)
	}
}

// Connections refused past MaxHandshakes get their 503 and hold no slot
// while their lingering close lasts: once the handshakes in progress end,
// a new client is admitted although refusals are still lingering.
func TestMaxHandshakesRefusalsHoldNoSlot(t *testing.T) {
	tg := startGateway(t, Config{MaxHandshakes: 2})
	silent := []*rawConn{dialRaw(t, tg.public), dialRaw(t, tg.public)}
	eventually(t, "handshakes in progress", func() bool { return tg.edge.handshakes.Load() == 2 })
	for range 10 {
		c := dialRaw(t, tg.public)
		if resp := c.request(upgradeRequest("/")); resp.StatusCode != http.StatusServiceUnavailable {
			t.Fatalf("status %d, want 503", resp.StatusCode)
		}
		// c stays open: the gateway lingers on it (up to rejectLinger).
	}
	if n := tg.edge.handshakes.Load(); n != 2 {
		t.Fatalf("%d handshakes counted in progress, want the 2 silent ones", n)
	}
	for _, c := range silent {
		_ = c.nc.Close()
	}
	eventually(t, "slots free", func() bool { return tg.edge.handshakes.Load() == 0 })
	lingering := tg.edge.refusing.Load()
	upgradeRaw(t, tg.public)
	if lingering == 0 {
		t.Log("the refusals stopped lingering before the check (slow machine)")
	}
	// Accepted is counted just after the 101 is written: wait for it.
	eventually(t, "counted", func() bool { st := tg.Stats(); return st.OverHandshakes == 10 && st.Accepted == 1 })
}
