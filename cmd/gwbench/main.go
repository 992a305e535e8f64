// Command gwbench is the load generator of gatewayworker's benchmarks: it
// opens many WebSocket connections to a fan-out server, makes some of them
// send timestamped messages, and reports deliveries per second, loss,
// latency quantiles and the CPU and memory the server processes used.
//
// Usage:
//
//	gwbench run --url ws://127.0.0.1:7272/ --conns 1000 --senders 16 --closed-loop \
//	    --duration 10s --warmup 2s --pids 1234 --json out.json
//	gwbench run --url ws://127.0.0.1:7272/ --conns 10000 --idle --duration 5s --pids 1234
//
// `gwbench worker --register ADDR` is the business worker of the scale
// benchmarks (bench/scale.sh): the chat example without its timed broadcast
// (each message to every client), and a client whose URL has ?group=N joins
// group N and sends to it only.
//
// Run `gwbench run -h` for every flag. `gwbench child` is the entry point
// of the child processes that hold a share of the connections past ~19k; it
// is not meant to be called by hand.
package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprintln(stderr, "usage: gwbench run [flags]   (gwbench run -h for flags)")
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	switch args[0] {
	case "run":
		return runBench(ctx, args[1:], stdout, stderr)
	case "worker":
		return runWorker(ctx, args[1:], stderr)
	case "child":
		log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
		if err := serveChild(ctx, stdin, stdout, log); err != nil {
			fmt.Fprintln(stderr, "gwbench child:", err)
			return 1
		}
		return 0
	default:
		fmt.Fprintf(stderr, "gwbench: unknown command %q (want run or worker)\n", args[0])
		return 2
	}
}
