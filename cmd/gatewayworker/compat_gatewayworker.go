package main

import (
	"context"
	"fmt"
	"net"

	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/internal/cli"
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

// gatewayWorkerLAN are the gateway's --gatewayworker-* options.
type gatewayWorkerLAN struct {
	addr      string
	advertise string
}

func (o *gatewayWorkerLAN) define(s *cli.Set) {
	s.String(&o.addr, "gatewayworker-lan", "", "also serve GatewayWorker 4.x's internal protocol (PHP BusinessWorker and GatewayClient, secretKey = --secret) on this address (empty: off)")
	s.String(&o.advertise, "gatewayworker-advertise", "", "IPv4 ip:port announced to the register and printed in GatewayWorker client ids (default: --gatewayworker-lan)")
}

// apply opens the listener (if enabled) into cfg; the gateway closes it.
func (o *gatewayWorkerLAN) apply(cfg *gateway.Config) error {
	if o.addr == "" {
		return nil
	}
	lis, err := net.Listen("tcp", o.addr)
	if err != nil {
		return fmt.Errorf("gateway: --gatewayworker-lan: %w", err)
	}
	cfg.GatewayWorker = gateway.GatewayWorkerConfig{Listener: lis, Advertise: o.advertise, SecretKey: cfg.Secret}
	return nil
}
