package linker

import (
	"context"
	"errors"
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func TestLazyStartsOnFirstUseAndCloses(t *testing.T) {
	g := linkertest.NewGateway(t, 0x5151)
	l, err := New(Config{Source: linkertest.NewSource(g).Run, Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	if n := len(l.Gateways()); n != 0 {
		t.Fatalf("linked before first use: %d gateways", n)
	}
	if err := l.Enqueue(context.Background(), g.Info.NodeId, sendCmd(1, 8)); err != nil {
		t.Fatal(err)
	}
	if err := l.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if gws := l.Gateways(); len(gws) != 1 || gws[0].GetNodeId() != g.Info.NodeId {
		t.Fatalf("Gateways = %v", gws)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil { // idempotent
		t.Fatal(err)
	}
	if err := l.Enqueue(context.Background(), g.Info.NodeId, sendCmd(2, 8)); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v, want ErrClosed", err)
	}
	if err := l.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("Run after Close: %v", err)
	}
}

func TestCloseNeverStarted(t *testing.T) {
	l, err := New(Config{Source: func(ctx context.Context, _ func([]*pb.GatewayInfo)) error { <-ctx.Done(); return nil }, Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := l.Query(context.Background(), nil, func(uint64) *pb.Query { return &pb.Query{} }); !errors.Is(err, ErrClosed) {
		t.Fatalf("query after Close: %v", err)
	}
}
