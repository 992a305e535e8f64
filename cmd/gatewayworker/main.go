// Command gatewayworker runs the roles of a gatewayworker cluster.
//
//	gatewayworker register --listen 127.0.0.1:1236
//	gatewayworker gateway  --listen 127.0.0.1:7272 --lan 127.0.0.1:2900 --register 127.0.0.1:1236
//	gatewayworker demo     [--tick 10s]
//	gatewayworker version
//	gatewayworker send-to-all|send-to-client ID|send-to-uid UID|send-to-group GROUP TEXT
//	gatewayworker stats
//	gatewayworker api      --listen 127.0.0.1:8081 --secret S   (HTTP push API, docs/api.md)
//
// Workers are Go programs that import the businessworker package; see
// examples/chat. Run "gatewayworker <command> --help" for every option.
// Options may come before or after a command's arguments; "--" ends them.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv)
	stop()
	os.Exit(code)
}
