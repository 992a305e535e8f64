package main

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/tlsconf/tlsconftest"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/gateway"
)

// `gatewayworker gateway --tls-cert --tls-key --auth-hmac-secret`: wss with
// a verifying client, a token required, the certificate reloaded on SIGHUP
// while a connection stays open.
func TestGatewayTLSAndTokenFlags(t *testing.T) {
	// With a handler of our own, a SIGHUP sent before the gateway's handler
	// is installed cannot kill the test process.
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)

	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 1, certFile, keyFile))
	const secret = "a secret of at least 16 bytes, here 40.."
	addrs := freeAddrs(t, 2)
	s := start(t, "gateway", "--listen", addrs[0], "--lan", addrs[1], "--register=",
		"--tls-cert", certFile, "--tls-key", keyFile, "--auth-hmac-secret", secret)

	token, err := gateway.SignToken([]byte(secret), "alice", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 2 * time.Second}
	dial := func(query string) (*websocket.Conn, int, int64) {
		c, resp, err := d.Dial("wss://"+addrs[0]+"/"+query, nil)
		status := 0
		if resp != nil {
			status = resp.StatusCode
			_ = resp.Body.Close()
		}
		if err != nil {
			return nil, status, 0
		}
		return c, status, c.UnderlyingConn().(*tls.Conn).ConnectionState().PeerCertificates[0].SerialNumber.Int64()
	}
	var first *websocket.Conn
	deadline := time.Now().Add(adminWait)
	for first == nil {
		var status int
		var serial int64
		if first, status, serial = dial("?token=" + token); first != nil && serial != 1 {
			t.Fatalf("serial %d", serial)
		}
		if first == nil && time.Now().After(deadline) {
			t.Fatalf("wss dial: status %d; output:\n%s", status, s.out.String())
		}
		if first == nil {
			time.Sleep(20 * time.Millisecond)
		}
	}
	defer first.Close()
	if c, status, _ := dial(""); c != nil || status != http.StatusUnauthorized {
		t.Fatalf("without a token: status %d", status)
	}

	roots.AddCert(tlsconftest.WriteSelfSigned(t, 2, certFile, keyFile))
	deadline = time.Now().Add(adminWait)
	for {
		if err := syscall.Kill(os.Getpid(), syscall.SIGHUP); err != nil {
			t.Fatal(err)
		}
		c, _, serial := dial("?token=" + token)
		if c != nil {
			c.Close()
		}
		if serial == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate not reloaded on SIGHUP; output:\n%s", s.out.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The first connection is still open. No worker is linked, so the
	// gateway holds the client's events and does not read it (flow
	// control; a ping would not be answered before --no-worker-timeout):
	// open means a read finds neither a close nor an error but the deadline.
	_ = first.SetReadDeadline(time.Now().Add(time.Second))
	_, _, err = first.ReadMessage()
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("the connection opened before the reload is gone: %v", err)
	}
}

// `gatewayworker demo --tls-cert --tls-key`: the chat page points at wss
// and a verifying client connects.
func TestDemoTLSFlags(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 5, certFile, keyFile))
	addrs := freeAddrs(t, 4)
	s := start(t, "demo", "--listen", addrs[0], "--lan", addrs[1], "--register-listen", addrs[2], "--http", addrs[3],
		"--tls-cert", certFile, "--tls-key", keyFile)
	waitStatus(t, s, "http://"+addrs[3]+"/", http.StatusOK, `wss:\/\/`+addrs[0]) // JS-escaped
	d := websocket.Dialer{TLSClientConfig: &tls.Config{RootCAs: roots}, HandshakeTimeout: 2 * time.Second}
	c, _, err := d.Dial("wss://"+addrs[0]+"/", nil)
	if err != nil {
		t.Fatalf("wss dial: %v; output:\n%s", err, s.out.String())
	}
	c.Close()
}
