package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"

	"github.com/gatewayworker/gatewayworker/internal/admin"
	"github.com/prometheus/client_golang/prometheus"
)

// task is one long-running part of a subcommand.
type task struct {
	name string
	run  func(ctx context.Context) error // returns when ctx is done
}

// runAll runs tasks until ctx is done or one of them fails; a failure
// cancels the others. It returns the first failure.
func runAll(ctx context.Context, log *slog.Logger, tasks ...task) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		wg    sync.WaitGroup
		once  sync.Once
		first error
	)
	for _, t := range tasks {
		if t.run == nil {
			continue
		}
		wg.Add(1)
		go func(t task) {
			defer wg.Done()
			err := t.run(ctx)
			if err != nil && !errors.Is(err, context.Canceled) {
				once.Do(func() { first = fmt.Errorf("%s: %w", t.name, err) })
				log.Error("stopped", "part", t.name, "err", err)
			}
			cancel()
		}(t)
	}
	wg.Wait()
	return first
}

// adminTask serves the admin endpoints on addr; an empty addr disables it.
func adminTask(addr string, g prometheus.Gatherer, ready func() error) task {
	if addr == "" {
		return task{}
	}
	return task{"admin", func(ctx context.Context) error {
		lis, err := net.Listen("tcp", addr)
		if err != nil {
			return fmt.Errorf("--admin: %w", err)
		}
		return admin.Serve(ctx, lis, admin.Handler(admin.Config{Gatherer: g, Ready: ready}, nil))
	}}
}

// httpTask serves h on lis until ctx is done.
func httpTask(name string, lis net.Listener, h http.Handler) task {
	return task{name, func(ctx context.Context) error { return admin.Serve(ctx, lis, h) }}
}
