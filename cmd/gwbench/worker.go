package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/loadgen"
)

// sessionGroup is the session key holding a client's benchmark group.
const sessionGroup = "bench_group"

// benchHandler is the worker of the scale benchmarks: the chat example with
// no timed broadcast (every message to every client, SendToAll), plus
// groups: a client whose URL has ?group=N joins group N when it connects,
// and its messages go to that group only (SendToGroup).
type benchHandler struct {
	businessworker.BaseHandler
	log *slog.Logger
	w   *businessworker.Worker
}

func (h *benchHandler) OnWorkerStart(_ context.Context, w *businessworker.Worker) { h.w = w }

// OnConnect puts a client that asked for a group (?group=N) in it, in its
// connect reply: joined before its first message is read.
func (h *benchHandler) OnConnect(_ context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	g := e.Handshake.Query().Get(loadgen.GroupParam)
	if g == "" {
		return businessworker.ConnectReply{}, nil
	}
	return businessworker.ConnectReply{Groups: []string{g}, Session: map[string]string{sessionGroup: g}}, nil
}

// OnMessage sends a message to the sender's group, or to everyone.
func (h *benchHandler) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	var err error
	if g := e.Client.Session()[sessionGroup]; g != "" {
		err = h.w.SendToGroup(ctx, g, e.Message)
	} else {
		err = h.w.SendToAll(ctx, e.Message)
	}
	if err != nil {
		h.log.Warn("gwbench worker: send", "client", e.Client.ID(), "err", err)
	}
}

// runWorker is `gwbench worker`: the benchmark's business worker.
func runWorker(ctx context.Context, args []string, stderr io.Writer) int {
	fs := flag.NewFlagSet("gwbench worker", flag.ContinueOnError)
	fs.SetOutput(stderr)
	registers := fs.String("register", "127.0.0.1:1236", "comma-separated register addresses")
	secret := fs.String("secret", "", "cluster secret")
	name := fs.String("name", "gwbench", "worker name")
	admin := fs.String("admin", "", "address for /metrics and /debug/pprof/ (empty: off)")
	logLevel := fs.String("log-level", "warn", "debug, info, warn or error")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	var level slog.Level
	if err := level.UnmarshalText([]byte(*logLevel)); err != nil {
		fmt.Fprintln(stderr, "gwbench worker: --log-level:", err)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	w, err := businessworker.New(businessworker.Config{
		Registers: strings.Split(*registers, ","),
		Secret:    *secret,
		Name:      *name,
		Handler:   &benchHandler{log: log},
		Logger:    log,
		Metrics:   reg,
	})
	if err != nil {
		fmt.Fprintln(stderr, "gwbench worker:", err)
		return 2
	}
	if *admin != "" {
		stop, err := serveAdmin(*admin, reg, log)
		if err != nil {
			fmt.Fprintln(stderr, "gwbench worker:", err)
			return 1
		}
		defer stop()
	}
	if err := w.Run(ctx); err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintln(stderr, "gwbench worker:", err)
		return 1
	}
	return 0
}

// serveAdmin serves /metrics and /debug/pprof/ on addr until the returned
// function is called.
func serveAdmin(addr string, reg *prometheus.Registry, log *slog.Logger) (func(), error) {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("admin: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{}))
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() {
		if err := srv.Serve(lis); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Warn("gwbench worker: admin", "err", err)
		}
	}()
	return func() { _ = srv.Close() }, nil
}
