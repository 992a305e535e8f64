package main

import (
	"context"
	"fmt"
	"net"

	"github.com/gatewayworker/gatewayworker/internal/cli"
	"github.com/gatewayworker/gatewayworker/register"
)

type registerOptions struct {
	listen string
	name   string
	secret string
	admin  string
	log    cli.Logging
}

func runRegister(ctx context.Context, e env, args []string) error {
	var o registerOptions
	s := cli.New("register", "Run a register: gateways announce themselves to it; workers and push clients watch it.", e.stderr, e.getenv)
	s.String(&o.listen, "listen", "127.0.0.1:1236", "gRPC address of the register")
	s.String(&o.name, "name", "", "register name in logs (default: host name)")
	s.String(&o.secret, "secret", "", "cluster secret required on every internal call (empty: none; loopback only)")
	s.String(&o.admin, "admin", "", "address for /metrics, /healthz, /readyz and pprof (empty: off)")
	o.log.Define(s)
	if err := parse(s, args); err != nil {
		return err
	}
	log, err := o.log.Logger(e.stderr)
	if err != nil {
		return usageError{err}
	}
	reg, err := register.New(register.Config{Name: o.name, Secret: o.secret, Logger: log})
	if err != nil {
		return usageError{err}
	}
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("register: --listen: %w", err)
	}
	log.Info("register listening", "addr", lis.Addr().String())
	return runAll(ctx, log,
		task{"register", func(ctx context.Context) error { return reg.Serve(ctx, lis) }},
		adminTask(o.admin, nil, nil),
	)
}
