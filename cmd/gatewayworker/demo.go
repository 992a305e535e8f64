package main

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/examples/chat/chat"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/internal/admin"
	"github.com/gatewayworker/gatewayworker/internal/cli"
	"github.com/gatewayworker/gatewayworker/internal/metrics"
	"github.com/gatewayworker/gatewayworker/register"
)

type demoOptions struct {
	listen   string
	lan      string
	registry string
	http     string
	tick     time.Duration
	secret   string
	limits   gatewayLimits
	tls      publicTLS
	log      cli.Logging
}

func runDemo(ctx context.Context, e env, args []string) error {
	var o demoOptions
	s := cli.New("demo", "Run a register, a gateway and the chat worker in one process, and serve the chat page.", e.stderr, e.getenv)
	s.String(&o.listen, "listen", "127.0.0.1:7272", "WebSocket address for clients")
	s.String(&o.lan, "lan", "127.0.0.1:2900", "internal gRPC address of the gateway")
	s.String(&o.registry, "register-listen", "127.0.0.1:1236", "gRPC address of the register (other workers may join it)")
	s.String(&o.http, "http", "127.0.0.1:8080", "address of the chat page, /metrics, /healthz and /readyz")
	s.Duration(&o.tick, "tick", chat.DefaultTick, "interval of the timed broadcast of the server time (0: off)")
	s.String(&o.secret, "secret", "", "cluster secret (empty: none)")
	o.limits.define(s)
	o.tls.define(s)
	o.log.Define(s)
	if err := parse(s, args); err != nil {
		return err
	}
	log, err := o.log.Logger(e.stderr)
	if err != nil {
		return usageError{err}
	}

	registry, err := metrics.NewRegistry() // all three roles, served on --http
	if err != nil {
		return err
	}
	// The demo's register lives and dies with its worker: no restart to
	// guard the leader lease against, so the first tick need not wait the
	// default 10 s of a register's start (--max-leader-ttl).
	reg, err := register.New(register.Config{Name: "demo", Secret: o.secret, Logger: log.With("role", "register"), Metrics: registry, MaxLeaderTTL: demoLeaderTTL})
	if err != nil {
		return usageError{err}
	}
	listeners, err := listenAll(o.registry, o.listen, o.lan, o.http)
	if err != nil {
		return err
	}
	regLis, wsLis, lanLis, httpLis := listeners[0], listeners[1], listeners[2], listeners[3]
	regAddr := regLis.Addr().String()

	gcfg := gateway.Config{Name: "demo", Secret: o.secret, Registers: []string{regAddr}, Logger: log.With("role", "gateway")}
	if err := o.limits.apply(&gcfg); err != nil {
		closeAll(listeners)
		return usageError{err}
	}
	gcfg.Metrics = registry
	gw, err := gateway.New(gcfg)
	if err != nil {
		closeAll(listeners)
		return usageError{err}
	}
	tick := o.tick
	if tick <= 0 {
		tick = -1
	}
	w, err := businessworker.New(businessworker.Config{
		Registers: []string{regAddr},
		Secret:    o.secret,
		Name:      "chat",
		Handler:   &chat.Handler{Tick: tick, Logger: log},
		Logger:    log.With("role", "worker"),
		Metrics:   registry,
	})
	if err != nil {
		closeAll(listeners)
		return usageError{err}
	}

	clients, reload, err := o.tls.wrap(wsLis, log)
	if err != nil {
		closeAll(listeners)
		return usageError{err}
	}
	wsURL := "ws://" + wsLis.Addr().String() + "/"
	if o.tls.cert != "" {
		wsURL = "wss://" + wsLis.Addr().String() + "/"
	}
	page := admin.Handler(admin.Config{Gatherer: registry, Ready: gw.Ready}, map[string]http.Handler{"/": chat.Page(wsURL)})
	log.Info("demo ready: open the chat page in two tabs",
		"page", "http://"+httpLis.Addr().String()+"/", "ws", wsURL, "register", regAddr)
	// The register outlives the others so that the gateway's leave on
	// shutdown is answered; it stops once they have.
	regCtx, stopRegister := context.WithCancel(context.WithoutCancel(ctx))
	regDone := make(chan error, 1)
	go func() { regDone <- reg.Serve(regCtx, regLis) }()
	defer func() { stopRegister(); <-regDone }()
	return runAll(ctx, log,
		task{"register-watch", func(ctx context.Context) error {
			select { // a register that fails stops the demo
			case err := <-regDone:
				regDone <- err
				return fmt.Errorf("register: %w", err)
			case <-ctx.Done():
				return nil
			}
		}},
		task{"gateway", func(ctx context.Context) error { return gw.Serve(ctx, clients, lanLis) }},
		reload,
		task{"worker", w.Run},
		httpTask("http", httpLis, page),
	)
}

// listenAll opens one TCP listener per address, or none on error.
func listenAll(addrs ...string) ([]net.Listener, error) {
	out := make([]net.Listener, 0, len(addrs))
	for _, a := range addrs {
		l, err := net.Listen("tcp", a)
		if err != nil {
			closeAll(out)
			return nil, fmt.Errorf("listen %s: %w", a, err)
		}
		out = append(out, l)
	}
	return out, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

// demoLeaderTTL is the demo register's MaxLeaderTTL: the timed broadcast
// starts about a second after the demo does.
const demoLeaderTTL = time.Second
