package businessworker_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// echo answers every message with the same message.
type echo struct {
	businessworker.BaseHandler
}

func (echo) OnConnect(ctx context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	_ = e.Client.Send(ctx, businessworker.Text("welcome"))
	return businessworker.ConnectReply{}, nil
}

func (echo) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, msg := e.Client, e.Message
	_ = c.Send(ctx, msg)
}

// An echo worker. In production the register and the gateway are separate
// processes (cmd/gatewayworker); here they run in-process so the example
// runs on its own.
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	registerAddr, wsAddr, wait := startRegisterAndGateway(ctx)

	w, err := businessworker.New(businessworker.Config{
		Registers: []string{registerAddr},
		Handler:   echo{},
	})
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = w.Run(ctx) })

	// Wait until the gateway routes client events to the worker.
	for len(w.Workers()) == 0 {
		time.Sleep(10 * time.Millisecond)
	}

	// A client, as a browser would connect.
	ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/", nil)
	if err != nil {
		panic(err)
	}
	_, hello, _ := ws.ReadMessage()
	fmt.Println(string(hello))
	_ = ws.WriteMessage(websocket.TextMessage, []byte("hello"))
	_, answer, _ := ws.ReadMessage()
	fmt.Println(string(answer))

	_ = ws.Close()
	stop()
	wg.Wait()
	wait()
	// Output:
	// welcome
	// hello
}

// startRegisterAndGateway runs a register and a gateway on loopback until ctx
// is done; wait waits for them to stop.
func startRegisterAndGateway(ctx context.Context) (registerAddr, wsAddr string, wait func()) {
	reg, err := register.New(register.Config{})
	if err != nil {
		panic(err)
	}
	rl, pub, lan := mustListen(), mustListen(), mustListen()
	gw, err := gateway.New(gateway.Config{Registers: []string{rl.Addr().String()}, DrainTimeout: time.Second})
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = reg.Serve(ctx, rl) })
	wg.Go(func() { _ = gw.Serve(ctx, pub, lan) })
	return rl.Addr().String(), pub.Addr().String(), wg.Wait
}

func mustListen() net.Listener {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return lis
}
