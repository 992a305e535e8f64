package register_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"time"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
	"github.com/gatewayworker/gatewayworker/register"
)

func ExampleNew() {
	_, err := register.New(register.Config{Name: "r1", Secret: "cluster-secret"})
	fmt.Println(err)
	_, err = register.New(register.Config{MaxLeaderTTL: -1})
	fmt.Println(errors.Is(err, register.ErrInvalidConfig))
	// Output:
	// <nil>
	// true
}

// Serve, Ready and Gateways: a register over a MemoryStore that a gateway
// (here the store itself) put a lease in.
func ExampleRegister_Gateways() {
	store := register.NewMemoryStore()
	reg, _ := register.New(register.Config{Store: store})
	fmt.Println(reg.Ready())
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- reg.Serve(ctx, lis) }()
	for reg.Ready() != nil {
		time.Sleep(5 * time.Millisecond)
	}
	fmt.Println(reg.Ready())
	_ = store.Put(&pb.GatewayInfo{NodeId: 0x2a, Name: "gw-1", LanAddr: "10.0.0.5:2900"}, time.Minute)
	for _, g := range reg.Gateways() {
		fmt.Println(g.GetName(), g.GetLanAddr())
	}
	cancel()
	fmt.Println(<-served)
	// Output:
	// register: not ready: not serving
	// <nil>
	// gw-1 10.0.0.5:2900
	// <nil>
}

// A Store's Watch gives the live gateways and then every change.
func ExampleNewMemoryStore() {
	store := register.NewMemoryStore()
	defer store.Close()
	_ = store.Put(&pb.GatewayInfo{NodeId: 1, Name: "gw-1", LanAddr: "10.0.0.1:2900"}, time.Minute)
	sub, _ := store.Watch(16)
	fmt.Println(len(sub.Snapshot), sub.Snapshot[0].GetName())
	_ = store.Put(&pb.GatewayInfo{NodeId: 2, Name: "gw-2", LanAddr: "10.0.0.2:2900"}, time.Minute)
	_ = store.Delete(1)
	for range 2 {
		ch := <-sub.C
		fmt.Println(ch.Kind == register.ChangeAdded, ch.Gateway.GetNodeId())
	}
	sub.Stop()
	// Output:
	// 1 gw-1
	// true 2
	// false 1
}

// Registers that gossip form one cluster: a lease put in one is seen by
// the other.
func ExampleNewClusterStore() {
	key := register.KeyFromSecret("cluster-secret")
	a, err := register.NewClusterStore(register.ClusterConfig{Name: "r1", BindAddr: "127.0.0.1:0", SecretKey: key})
	if err != nil {
		panic(err)
	}
	defer a.Close()
	b, err := register.NewClusterStore(register.ClusterConfig{Name: "r2", BindAddr: "127.0.0.1:0", SecretKey: key, Join: []string{a.Addr()}})
	if err != nil {
		panic(err)
	}
	defer b.Close()
	for len(a.Members()) != 2 {
		time.Sleep(10 * time.Millisecond)
	}
	sub, _ := b.Watch(16)
	defer sub.Stop()
	_ = a.Put(&pb.GatewayInfo{NodeId: 7, Name: "gw-on-r1", LanAddr: "10.0.0.7:2900"}, time.Minute)
	if len(sub.Snapshot) == 0 {
		ch := <-sub.C
		fmt.Println("r2 sees", ch.Gateway.GetName())
	}
	fmt.Println(a.Joined(), b.Joined(), b.Size())
	// Output:
	// r2 sees gw-on-r1
	// true true 2
}

func ExampleKeyFromSecret() {
	fmt.Println(len(register.KeyFromSecret("cluster-secret"))) // an AES-256 gossip key
	// Output: 32
}

// PHP BusinessWorkers and GatewayClients ask a register's GatewayWorker
// listener for the gateways' GatewayWorker addresses.
func ExampleRegister_ServeGatewayWorker() {
	store := register.NewMemoryStore()
	reg, _ := register.New(register.Config{Store: store})
	_ = store.Put(&pb.GatewayInfo{NodeId: 1, LanAddr: "10.0.0.5:2000", GatewayworkerAddr: "10.0.0.5:2900"}, time.Minute)
	lis, _ := net.Listen("tcp", "127.0.0.1:0")
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- reg.ServeGatewayWorker(ctx, lis, register.GatewayWorkerConfig{SecretKey: "k"}) }()

	php, _ := net.Dial("tcp", lis.Addr().String())
	_, _ = php.Write([]byte(`{"event":"worker_connect","secret_key":"k"}` + "\n"))
	line, _ := bufio.NewReader(php).ReadString('\n')
	fmt.Print(line)
	_ = php.Close()
	cancel()
	<-served
	// Output: {"event":"broadcast_addresses","addresses":["10.0.0.5:2900"]}
}
