// Command rooms is a browser chat with nicknames, rooms, private messages
// and an online list per room, as a gatewayworker worker that also serves its
// page:
//
//	gatewayworker register &
//	gatewayworker gateway --listen 127.0.0.1:7272 &
//	go run ./examples/rooms --http 127.0.0.1:8090
//	open http://127.0.0.1:8090/ in two browser tabs
//	gatewayworker send-to-all "server restarts in 5 minutes"
//
// Run more gateways and workers on any hosts: nicknames, rooms and lists span
// the cluster.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/examples/rooms/rooms"
)

func main() {
	registers := flag.String("register", "127.0.0.1:1236", "comma-separated register addresses")
	secret := flag.String("secret", os.Getenv("GW_SECRET"), "cluster secret (env GW_SECRET)")
	httpAddr := flag.String("http", "127.0.0.1:8090", "address serving the chat page (empty: no page)")
	wsURL := flag.String("ws", "", "gateway WebSocket URL the page connects to (default: ws://<page host>:7272/)")
	flag.Parse()

	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, log, strings.Split(*registers, ","), *secret, *httpAddr, *wsURL); err != nil {
		fmt.Fprintln(os.Stderr, "rooms:", err)
		os.Exit(1)
	}
}

// run runs the worker and the page server until ctx is done.
func run(ctx context.Context, log *slog.Logger, registers []string, secret, httpAddr, wsURL string) error {
	w, err := businessworker.New(businessworker.Config{
		Registers: registers, Secret: secret, Name: "rooms", Handler: &rooms.Handler{Logger: log}, Logger: log,
	})
	if err != nil {
		return err
	}
	page, err := rooms.Page(wsURL)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Go(func() { errs <- w.Run(ctx); cancel() })
	if httpAddr != "" {
		lis, err := net.Listen("tcp", httpAddr)
		if err != nil {
			cancel()
			wg.Wait()
			return fmt.Errorf("--http: %w", err)
		}
		log.Info("chat page", "url", "http://"+lis.Addr().String()+"/")
		srv := &http.Server{Handler: page, ReadHeaderTimeout: 5 * time.Second}
		wg.Go(func() {
			<-ctx.Done()
			sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer scancel()
			_ = srv.Shutdown(sctx)
		})
		wg.Go(func() {
			if err := srv.Serve(lis); !errors.Is(err, http.ErrServerClosed) {
				errs <- err
			}
			cancel()
		})
	}
	wg.Wait()
	close(errs)
	var all []error
	for err := range errs {
		all = append(all, err)
	}
	return errors.Join(all...)
}
