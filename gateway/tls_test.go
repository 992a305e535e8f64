package gateway

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"math/big"
	"net"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		IPAddresses:  []net.IP{net.ParseIP("127.0.0.1")},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// A TLS listener (wss) works: such clients cannot be polled and get a
// reader goroutine each.
func TestTLSClients(t *testing.T) {
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	pub := tls.NewListener(raw, &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	lan, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, pub, lan) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	w := dialLink(t, lan.Addr().String(), "", "w1", true)
	d := websocket.Dialer{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}
	ws, _, err := d.Dial("wss://"+raw.Addr().String()+"/secure", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer ws.Close()
	conn := w.connectEvent().GetConn()
	if err := ws.WriteMessage(websocket.TextMessage, []byte("over tls")); err != nil {
		t.Fatal(err)
	}
	if m := w.event().GetMessage(); string(m.GetData()) != "over tls" {
		t.Fatalf("message = %v", m)
	}
	w.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{conn}, Data: []byte("back")}}})
	if _, got := readMsg(t, ws); got != "back" {
		t.Fatalf("got %q", got)
	}
}
