package gateway_test

import (
	"context"
	"fmt"
	"log"
	"net"

	"github.com/gatewayworker/gatewayworker/gateway"
)

// A gateway that PHP BusinessWorkers and GatewayClient can use as a
// GatewayWorker 4.x gateway: point them at a register started with
// --gatewayworker-listen, or at GatewayWorker.Listener directly.
func ExampleGatewayWorkerConfig() {
	compat, _ := net.Listen("tcp", "127.0.0.1:0")
	g, err := gateway.New(gateway.Config{
		Secret: "S",
		GatewayWorker: gateway.GatewayWorkerConfig{
			Listener:  compat,
			SecretKey: "S", // $worker->secretKey, Gateway::$secretKey
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

	// PHP sees this gateway's clients as 20-hex ids of its address.
	id, _ := g.ClientIDToGatewayWorker(g.NodeID() + "0000000000000001")
	fmt.Println(len(id), id[:8])
	cancel()
	fmt.Println(<-done)
	// Output:
	// 20 7f000001
	// <nil>
}
