package main

import (
	"context"
	"fmt"
	"net"

	"github.com/gatewayworker/gatewayworker/register"
)

// gatewayWorkerRegisterTask listens on addr (--gatewayworker-listen) for
// GatewayWorker's register protocol; an empty addr gives an empty task.
func gatewayWorkerRegisterTask(reg *register.Register, addr, secret string) (task, error) {
	if addr == "" {
		return task{}, nil
	}
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return task{}, fmt.Errorf("register: --gatewayworker-listen: %w", err)
	}
	return task{"gatewayworker-register", func(ctx context.Context) error {
		return reg.ServeGatewayWorker(ctx, lis, register.GatewayWorkerConfig{SecretKey: secret})
	}}, nil
}
