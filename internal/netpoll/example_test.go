//go:build linux

package netpoll_test

import (
	"fmt"
	"net"

	"github.com/gatewayworker/gatewayworker/internal/gopool"
	"github.com/gatewayworker/gatewayworker/internal/netpoll"
)

// The gateway's pattern: the poller only signals, a pool goroutine reads what
// is there, then re-arms the registration.
func Example() {
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	defer ln.Close()
	client, _ := net.Dial("tcp", ln.Addr().String())
	defer client.Close()
	server, _ := ln.Accept()
	defer server.Close()

	poller, err := netpoll.New(nil)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer poller.Close()
	pool := gopool.NewPool(4, 64)
	defer pool.Close()

	got := make(chan string)
	desc, err := poller.AddFunc(server, func(desc *netpoll.Desc) {
		pool.Schedule(func() { // never block the poller's goroutine
			buf := make([]byte, 64)
			n, err := server.Read(buf)
			if err != nil { // hang-up: deregister before closing
				_ = poller.Remove(desc)
				return
			}
			got <- string(buf[:n])
			_ = poller.Resume(desc)
		})
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	_, _ = client.Write([]byte("hello"))
	fmt.Println(<-got)
	_, _ = client.Write([]byte("again"))
	fmt.Println(<-got)
	_ = poller.Remove(desc)
	// Output:
	// hello
	// again
}
