package gateway_test

import (
	"context"
	"fmt"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/gateway"
)

// A gateway on loopback that refuses clients without a token. Workers
// would link to the LAN address (or find it through the registers).
func Example() {
	g, err := gateway.New(gateway.Config{
		Name:   "example",
		Secret: "cluster-secret",
		OnHandshake: func(h *gateway.Handshake) error {
			if h.Query().Get("token") == "" {
				return &gateway.HandshakeError{Status: http.StatusUnauthorized, Reason: "token required"}
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

	url := "ws://" + public.Addr().String()
	_, resp, _ := websocket.DefaultDialer.Dial(url+"/", nil)
	fmt.Println("without token:", resp.StatusCode)
	resp.Body.Close()

	ws, _, err := websocket.DefaultDialer.Dial(url+"/?token=t", nil)
	if err != nil {
		log.Fatal(err)
	}
	for g.Stats().Clients == 0 {
		time.Sleep(time.Millisecond)
	}
	fmt.Println("clients:", g.Stats().Clients)

	go func() {
		// The client answers the gateway's close frame while reading.
		_, _, err := ws.ReadMessage()
		fmt.Println("client:", err)
	}()
	cancel() // drain: clients are closed with 1001 Going Away
	fmt.Println("serve:", <-done)
	_ = ws.Close()
	// Output:
	// without token: 401
	// clients: 1
	// client: websocket: close 1001 (going away): going away
	// serve: <nil>
}
