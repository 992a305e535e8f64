// Command chat is a gatewayworker worker running the seed document's two
// examples: a group chat and a timed broadcast of the server time.
//
//	go run ./examples/chat --register 127.0.0.1:1236 [--tick 10s]
//
// Start a register and a gateway first (see the README), then any number of
// these workers, on any hosts.
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
	"github.com/gatewayworker/gatewayworker/examples/chat/chat"
)

func main() {
	registers := flag.String("register", "127.0.0.1:1236", "comma-separated register addresses")
	tick := flag.Duration("tick", chat.DefaultTick, "interval of the timed broadcast (0 or negative: off)")
	secret := flag.String("secret", os.Getenv("GW_SECRET"), "cluster secret (env GW_SECRET)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	t := *tick
	if t <= 0 {
		t = -1
	}
	w, err := businessworker.New(businessworker.Config{
		Registers: strings.Split(*registers, ","),
		Secret:    *secret,
		Name:      "chat",
		Handler:   &chat.Handler{Tick: t, Logger: log},
		Logger:    log,
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := w.Run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "chat:", err)
		os.Exit(1)
	}
}
