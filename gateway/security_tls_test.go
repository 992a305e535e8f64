package gateway

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/tlsconf/tlsconftest"

	"github.com/gorilla/websocket"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// startTLSGateway serves a gateway on a TLS listener using r.
func startTLSGateway(t *testing.T, cfg Config, r *CertReloader) *testGateway {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lan, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tg := &testGateway{Gateway: g, public: raw.Addr().String(), lan: lan.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { tg.done <- g.Serve(ctx, tls.NewListener(raw, r.TLSConfig()), lan) }()
	t.Cleanup(func() { tg.stop(t) })
	return tg
}

// dialWSS connects a verifying TLS WebSocket client trusting roots and
// returns it with the serial of the certificate the gateway presented.
func dialWSS(t *testing.T, addr string, roots *x509.CertPool) (*websocket.Conn, int64) {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}, HandshakeTimeout: waitFor}
	c, _, err := d.Dial("wss://"+addr+"/secure", nil)
	if err != nil {
		t.Fatalf("wss dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	tc, ok := c.UnderlyingConn().(*tls.Conn)
	if !ok {
		t.Fatalf("not a TLS connection: %T", c.UnderlyingConn())
	}
	st := tc.ConnectionState()
	if len(st.PeerCertificates) == 0 {
		t.Fatal("no peer certificate")
	}
	if st.Version < tls.VersionTLS12 {
		t.Fatalf("TLS version %#x", st.Version)
	}
	return c, st.PeerCertificates[0].SerialNumber.Int64()
}

// wss works with a verifying client; a reload (file change picked up by
// Run, or Reload as on SIGHUP) gives new clients the new certificate while
// the connections already open keep working.
func TestTLSCertificateReload(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 1, certFile, keyFile))

	r, err := NewCertReloader(CertReloaderConfig{CertFile: certFile, KeyFile: keyFile, CheckInterval: 20 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	tg := startTLSGateway(t, Config{}, r)
	w := dialLink(t, tg.lan, "", "w1", true)
	old, serial := dialWSS(t, tg.public, roots)
	if serial != 1 {
		t.Fatalf("serial %d", serial)
	}
	oldConn := w.connectEvent().GetConn()

	// A file change, picked up by Run.
	ctx, cancel := context.WithCancel(context.Background())
	runDone := make(chan error, 1)
	go func() { runDone <- r.Run(ctx) }()
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 2, certFile, keyFile))
	eventually(t, "new certificate served", func() bool {
		c, s := dialWSS(t, tg.public, roots)
		_ = c.Close()
		return s == 2
	})
	cancel()
	if err := <-runDone; err != nil {
		t.Fatalf("Run: %v", err)
	}

	// An explicit Reload (the SIGHUP path).
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 3, certFile, keyFile))
	if err := r.Reload(); err != nil {
		t.Fatal(err)
	}
	fresh, serial := dialWSS(t, tg.public, roots)
	if serial != 3 {
		t.Fatalf("after Reload: serial %d", serial)
	}

	// A broken pair is refused; the current certificate stays.
	if err := os.WriteFile(keyFile, []byte("garbage"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := r.Reload(); err == nil {
		t.Fatal("Reload accepted a broken key")
	}
	if _, serial := dialWSS(t, tg.public, roots); serial != 3 {
		t.Fatalf("after a failed reload: serial %d", serial)
	}

	// The first connection survived every reload, both ways.
	if err := old.WriteMessage(websocket.TextMessage, []byte("still here")); err != nil {
		t.Fatal(err)
	}
	for {
		ev := w.event()
		if m := ev.GetMessage(); m != nil {
			if ev.GetConn() != oldConn || string(m.GetData()) != "still here" {
				t.Fatalf("event %v", ev)
			}
			break
		}
	}
	w.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: []byte("to all")}}})
	for _, c := range []*websocket.Conn{old, fresh} {
		if _, got := readMsg(t, c); got != "to all" {
			t.Fatalf("got %q", got)
		}
	}
}

// TLS below 1.2 is refused, and a client that opens a TCP connection and
// never starts TLS is dropped at HandshakeTimeout.
func TestTLSMinVersionAndHandshakeTimeout(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 7, certFile, keyFile))
	r, err := NewCertReloader(CertReloaderConfig{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	tg := startTLSGateway(t, Config{HandshakeTimeout: 200 * time.Millisecond}, r)

	c, err := tls.Dial("tcp", tg.public, &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS11})
	if err == nil {
		_ = c.Close()
		t.Fatal("TLS 1.1 handshake succeeded")
	}
	silent := dialRaw(t, tg.public)
	start := time.Now()
	silent.expectEOF()
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("silent TLS client dropped after %v", d)
	}
	eventually(t, "refusals counted", func() bool { return tg.Stats().Rejected == 2 })
}

func TestNewCertReloaderValidates(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	tlsconftest.WriteSelfSigned(t, 1, certFile, keyFile)
	for _, cfg := range []CertReloaderConfig{
		{CertFile: certFile},
		{KeyFile: keyFile},
		{CertFile: certFile, KeyFile: keyFile, CheckInterval: -time.Second},
	} {
		if _, err := NewCertReloader(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%+v: err %v, want ErrInvalidConfig", cfg, err)
		}
	}
	if _, err := NewCertReloader(CertReloaderConfig{CertFile: certFile, KeyFile: filepath.Join(dir, "none")}); err == nil {
		t.Error("missing key file accepted")
	}
	if _, err := NewCertReloader(CertReloaderConfig{CertFile: keyFile, KeyFile: certFile}); err == nil {
		t.Error("swapped files accepted")
	}
}
