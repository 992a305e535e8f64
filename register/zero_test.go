package register

import (
	"context"
	"errors"
	"net"
	"testing"
)

// The zero Register returns errors; it does not panic.
func TestZeroRegister(t *testing.T) {
	var r Register
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	if err := r.Serve(context.Background(), lis); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("Serve: %v", err)
	}
	if err := r.ServeGatewayWorker(context.Background(), lis, GatewayWorkerConfig{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("ServeGatewayWorker: %v", err)
	}
	if err := r.Ready(); !errors.Is(err, ErrNotReady) {
		t.Fatalf("Ready: %v", err)
	}
	if r.Gateways() != nil {
		t.Fatal("Gateways of a zero Register")
	}
}
