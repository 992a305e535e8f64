package register_test

import (
	"context"
	"fmt"
	"net"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
	"github.com/gatewayworker/gatewayworker/register"
)

// A register on a loopback port, a gateway announcing itself to it and a
// watcher following the set of live gateways.
func Example() {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	reg, err := register.New(register.Config{Name: "r1", Secret: "cluster-secret"})
	if err != nil {
		panic(err)
	}
	served := make(chan error, 1)
	go func() { served <- reg.Serve(ctx, lis) }()

	ann, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
		Registers: []string{lis.Addr().String()},
		Gateway:   &pb.GatewayInfo{NodeId: 0x2a, LanAddr: "127.0.0.1:7001", Name: "gw-1"},
		Secret:    "cluster-secret",
	})
	if err != nil {
		panic(err)
	}
	annCtx, stopAnn := context.WithCancel(ctx)
	annDone := make(chan error, 1)
	go func() { annDone <- ann.Run(annCtx) }()

	w, err := discovery.NewWatcher(discovery.WatcherConfig{
		Registers: []string{lis.Addr().String()},
		Secret:    "cluster-secret",
	})
	if err != nil {
		panic(err)
	}
	sets := make(chan []*pb.GatewayInfo, 16)
	watchDone := make(chan error, 1)
	go func() { watchDone <- w.Run(ctx, func(gws []*pb.GatewayInfo) { sets <- gws }) }()

	for gws := range sets {
		if len(gws) == 1 {
			fmt.Printf("live: %s at %s\n", gws[0].GetName(), gws[0].GetLanAddr())
			break
		}
	}
	stopAnn() // the gateway leaves: it is removed at once
	<-annDone
	for gws := range sets {
		if len(gws) == 0 {
			fmt.Println("live: none")
			break
		}
	}

	cancel()
	<-watchDone
	<-served
	// Output:
	// live: gw-1 at 127.0.0.1:7001
	// live: none
}
