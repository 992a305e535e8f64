package pushclient_test

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/pushclient"
	"github.com/gatewayworker/gatewayworker/register"
)

// Push to a browser from a program that is not a worker. The register and
// the gateway run in-process here so the example runs on its own; in
// production they are "gatewayworker register" and "gatewayworker gateway".
func Example() {
	ctx, stop := context.WithCancel(context.Background())
	registerAddr, wsAddr, wait := startCluster(ctx)
	defer func() { stop(); wait() }()

	p, err := pushclient.New(pushclient.Config{Registers: []string{registerAddr}})
	if err != nil {
		panic(err)
	}
	defer p.Close(ctx)

	ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/", nil)
	if err != nil {
		panic(err)
	}
	defer ws.Close()
	for n := 0; n == 0; n, _ = p.CountClients(ctx) {
		time.Sleep(10 * time.Millisecond)
	}

	ids, _ := p.Clients(ctx)
	_ = p.BindUID(ctx, ids[0], "user-42")
	_ = p.SendToUID(ctx, "user-42", businessworker.Text("you have mail"))
	_, msg, _ := ws.ReadMessage()
	fmt.Println(string(msg))
	online, _ := p.UIDsOnline(ctx, []string{"user-42", "user-7"})
	fmt.Println(online)
	// Output:
	// you have mail
	// map[user-42:true user-7:false]
}

func startCluster(ctx context.Context) (registerAddr, wsAddr string, wait func()) {
	reg, err := register.New(register.Config{})
	if err != nil {
		panic(err)
	}
	rl, pub, lan := listen(), listen(), listen()
	gw, err := gateway.New(gateway.Config{Registers: []string{rl.Addr().String()}, DrainTimeout: time.Second})
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = reg.Serve(ctx, rl) })
	wg.Go(func() { _ = gw.Serve(ctx, pub, lan) })
	return rl.Addr().String(), pub.Addr().String(), wg.Wait
}

func listen() net.Listener {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	return lis
}
