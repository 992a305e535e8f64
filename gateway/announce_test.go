package gateway

import (
	"context"
	"net"
	"testing"

	"github.com/gatewayworker/gatewayworker/register"
)

// The gateway holds a lease on the register while it serves and leaves on
// shutdown.
func TestAnnouncesToRegister(t *testing.T) {
	reg, err := register.New(register.Config{Secret: "s"})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	regDone := make(chan error, 1)
	go func() { regDone <- reg.Serve(ctx, lis) }()
	defer func() {
		cancel()
		if err := <-regDone; err != nil {
			t.Errorf("register Serve: %v", err)
		}
	}()

	tg := startGateway(t, Config{Secret: "s", Registers: []string{lis.Addr().String()}, AdvertisePublic: "ws.example:443"})
	announced := func() bool {
		for _, gi := range reg.Gateways() {
			if gi.GetNodeId() == tg.nodeID {
				return gi.GetLanAddr() == tg.lan && gi.GetPublicAddr() == "ws.example:443"
			}
		}
		return false
	}
	eventually(t, "gateway announced", func() bool { return announced() && tg.Stats().Announced })
	if err := tg.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	// Left at once (well before the lease TTL of 10 s would expire it).
	eventually(t, "gateway left", func() bool { return len(reg.Gateways()) == 0 })
}
