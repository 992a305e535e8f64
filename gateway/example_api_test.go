package gateway_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/gateway"
)

// serve runs g on loopback listeners until the returned stop is called.
func serve(g *gateway.Gateway) (wsURL string, stop func()) {
	public, _ := net.Listen("tcp", "127.0.0.1:0")
	lan, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, public, lan) }()
	return "ws://" + public.Addr().String() + "/", func() { cancel(); <-done }
}

func ExampleNew() {
	g, err := gateway.New(gateway.Config{Name: "gw-1", Secret: "cluster-secret", Registers: []string{"127.0.0.1:1236"}})
	fmt.Println(err, len(g.NodeID()))
	_, err = gateway.New(gateway.Config{MaxMessageSize: -1})
	fmt.Println(errors.Is(err, gateway.ErrInvalidConfig))
	// Output:
	// <nil> 16
	// true
}

func ExampleGateway_Serve() {
	g, _ := gateway.New(gateway.Config{DrainTimeout: time.Second})
	url, stop := serve(g)
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	fmt.Println(err)
	_ = ws.Close()
	stop() // Serve drains and returns when its ctx is done
	// Output: <nil>
}

func ExampleGateway_Stats() {
	g, _ := gateway.New(gateway.Config{})
	url, stop := serve(g)
	defer stop()
	ws, _, _ := websocket.DefaultDialer.Dial(url, nil)
	defer ws.Close()
	for g.Stats().Clients == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	st := g.Stats()
	fmt.Println(st.Clients, st.Groups, st.UIDs, st.Workers)
	// Output: 1 0 0 0
}

func ExampleGateway_Ready() {
	g, _ := gateway.New(gateway.Config{})
	fmt.Println(g.Ready())
	_, stop := serve(g)
	defer stop()
	for g.Ready().Error() == "gateway: not ready: not serving" {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println(g.Ready()) // serving, but clients' messages would have no worker
	// Output:
	// gateway: not ready: not serving
	// gateway: not ready: no worker linked
}

func ExampleGateway_NodeID() {
	g, _ := gateway.New(gateway.Config{})
	// Every client id this gateway issues starts with its node id.
	fmt.Println(len(g.NodeID()))
	// Output: 16
}

func ExampleGateway_ClientIDFromGatewayWorker() {
	compat, _ := net.Listen("tcp", "127.0.0.1:0")
	g, _ := gateway.New(gateway.Config{GatewayWorker: gateway.GatewayWorkerConfig{Listener: compat, Advertise: "10.0.0.5:2900"}})
	_, stop := serve(g)
	defer stop()
	php, _ := g.ClientIDToGatewayWorker(g.NodeID() + "0000000000000007")
	fmt.Println(php) // ip, port and connection number, as PHP sees it
	back, _ := g.ClientIDFromGatewayWorker(php)
	fmt.Println(back == g.NodeID()+"0000000000000007")
	// Output:
	// 0a0000050b5400000007
	// true
}

func ExampleSignToken() {
	secret := []byte("login-service-secret")
	token, _ := gateway.SignToken(secret, "user-42", time.Now().Add(time.Hour))
	check, _ := gateway.HMACTokenCheck(gateway.TokenCheck{Secret: secret})
	hs := &gateway.Handshake{RawQuery: "token=" + token}
	fmt.Println(check(hs))
	// Output: <nil>
}

func ExampleHandshake_Query() {
	hs := &gateway.Handshake{Path: "/chat", RawQuery: "room=7"}
	fmt.Println(hs.Query().Get("room"))
	// Output: 7
}

func ExampleHandshake_Header() {
	hs := &gateway.Handshake{Headers: []gateway.Header{{Name: "Origin", Value: "https://example.com"}}}
	fmt.Println(hs.Header("origin"))
	// Output: https://example.com
}

// A wss listener whose certificate is reloaded from its files.
func ExampleNewCertReloader() {
	dir, _ := os.MkdirTemp("", "certs")
	defer os.RemoveAll(dir)
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	writeSelfSigned(certFile, keyFile, "v1")

	r, err := gateway.NewCertReloader(gateway.CertReloaderConfig{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		panic(err)
	}
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	wss := tls.NewListener(lis, r.TLSConfig()) // give wss to Gateway.Serve as its public listener
	defer wss.Close()
	cert, _ := r.GetCertificate(nil)
	fmt.Println(leafName(cert))

	writeSelfSigned(certFile, keyFile, "v2") // a renewed certificate
	fmt.Println(r.Reload())                  // or let Run notice the change
	cert, _ = r.GetCertificate(nil)
	fmt.Println(leafName(cert))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	fmt.Println(r.Run(ctx)) // Run checks the files until ctx is done
	// Output:
	// v1
	// <nil>
	// v2
	// <nil>
}

func leafName(c *tls.Certificate) string {
	leaf, _ := x509.ParseCertificate(c.Certificate[0])
	return leaf.Subject.CommonName
}

func writeSelfSigned(certFile, keyFile, name string) {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), DNSNames: []string{"localhost"}}
	der, _ := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	keyDER, _ := x509.MarshalECPrivateKey(key)
	_ = os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	_ = os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}), 0o600)
}
