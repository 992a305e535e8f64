package gateway

import (
	"context"
	"errors"
	"net"
	"testing"
)

// The zero Gateway returns errors and zeros; it does not panic.
func TestZeroGateway(t *testing.T) {
	var g Gateway
	a, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := g.Serve(context.Background(), a, a); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Serve: %v", err)
	}
	if err := g.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready: %v", err)
	}
	if g.Stats() != (Stats{}) || g.NodeID() != "" {
		t.Fatalf("Stats %+v, NodeID %q", g.Stats(), g.NodeID())
	}
	if _, err := g.ClientIDToGatewayWorker("00000000000000010000000000000001"); err == nil {
		t.Fatal("ClientIDToGatewayWorker on a zero Gateway succeeded")
	}
}
