package main

import (
	"context"
	"errors"
	"fmt"
	"net"

	"github.com/gatewayworker/gatewayworker/internal/cli"
	"github.com/gatewayworker/gatewayworker/internal/httpapi"
)

func runAPI(ctx context.Context, e env, args []string) error {
	var (
		o      pushOptions
		listen string
	)
	s := cli.New("api", "Serve the HTTP push API (JSON; see docs/api.md). Every request carries the cluster secret as a bearer token.", e.stderr, e.getenv)
	o.define(s, "cluster secret: required, it is the bearer token every request carries (and the secret of the internal links)",
		"bound on each HTTP request: its query, or its command and (with \"flush\": true) the wait until every gateway applied it")
	s.String(&listen, "listen", "127.0.0.1:8081", "HTTP address of the API")
	if err := parse(s, args); err != nil {
		return err
	}
	if o.secret == "" {
		return usageError{errors.New("api: --secret (or GW_SECRET) is required: it is the bearer token")}
	}
	p, err := o.client(e.stderr, "gatewayworker api", false)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	log, _ := o.log.Logger(e.stderr) // checked by client
	srv, err := httpapi.New(httpapi.Config{API: p, Secret: o.secret, Timeout: o.timeout, Logger: log})
	if err != nil {
		return usageError{err}
	}
	lis, err := net.Listen("tcp", listen)
	if err != nil {
		return fmt.Errorf("api: --listen: %w", err)
	}
	log.Info("api listening", "addr", lis.Addr().String())
	return runAll(ctx, log, httpTask("api", lis, srv))
}
