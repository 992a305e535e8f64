package gateway_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/netip"
	"slices"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/gateway"
)

// A gateway behind a load balancer at 10.0.0.2 that sends the PROXY
// protocol, with per-address limits and two subprotocols; the handshake
// hook keeps old clients that offer both on the old one.
func ExampleConfig_edge() {
	g, err := gateway.New(gateway.Config{
		Subprotocols:        []string{"chat.v2", "chat.v1"},
		ProxyProtocol:       false, // true in production behind the balancer
		TrustedProxies:      []netip.Prefix{netip.MustParsePrefix("10.0.0.2/32")},
		MaxConnectionsPerIP: 100,
		HandshakeRatePerIP:  10, // burst: 10
		OnHandshake: func(h *gateway.Handshake) error {
			if h.Query().Get("legacy") == "1" && slices.Contains(h.Protocols, "chat.v1") {
				h.Subprotocol = "chat.v1"
			}
			return nil
		},
	})
	if err != nil {
		log.Fatal(err)
	}
	public, _ := net.Listen("tcp", "127.0.0.1:0")
	lan, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, public, lan) }()

	for _, query := range []string{"", "?legacy=1"} {
		d := websocket.Dialer{Subprotocols: []string{"chat.v2", "chat.v1"}}
		c, _, err := d.Dial("ws://"+public.Addr().String()+"/"+query, nil)
		if err != nil {
			log.Fatal(err)
		}
		fmt.Printf("%q: %s\n", query, c.Subprotocol())
		c.Close()
	}
	cancel()
	<-done
	// Output:
	// "": chat.v2
	// "?legacy=1": chat.v1
}
