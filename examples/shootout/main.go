// Command shootout is a gatewayworker worker speaking the websocket-shootout
// benchmark's protocol (see package shootout).
//
//	go run ./examples/shootout --register 127.0.0.1:1236
//
// Start a register and a gateway first (see the README), then this worker,
// then point websocket-bench at the gateway:
//
//	websocket-bench broadcast ws://127.0.0.1:7272/ --concurrent 10 \
//	    --sample-size 100 --step-size 1000 --limit-percentile 95 \
//	    --limit-rtt 250ms --initial-clients 1000
package main

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"syscall"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/examples/shootout/shootout"
)

func main() {
	registers := flag.String("register", "127.0.0.1:1236", "comma-separated register addresses")
	secret := flag.String("secret", os.Getenv("GW_SECRET"), "cluster secret (env GW_SECRET)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	w, err := businessworker.New(businessworker.Config{
		Registers: strings.Split(*registers, ","),
		Secret:    *secret,
		Name:      "shootout",
		Handler:   &shootout.Handler{Logger: log},
		Logger:    log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "shootout:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shootout:", err)
		os.Exit(1)
	}
}
