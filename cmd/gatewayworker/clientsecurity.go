package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/internal/cli"
)

// Client-side security options of gateway and demo: wss and the token check.

// publicTLS holds the wss options of a gateway's client listener.
type publicTLS struct {
	cert, key string
}

func (t *publicTLS) define(s *cli.Set) {
	s.String(&t.cert, "tls-cert", "", "PEM certificate (chain) for wss on --listen (with --tls-key; TLS 1.2+; reloaded on SIGHUP and when the files change)")
	s.String(&t.key, "tls-key", "", "PEM private key of --tls-cert")
}

// wrap returns lis itself without TLS options, else lis wrapped in TLS
// with the certificate reloader and the task that reloads it (on SIGHUP,
// and when the files change).
func (t *publicTLS) wrap(lis net.Listener, log *slog.Logger) (net.Listener, task, error) {
	if t.cert == "" && t.key == "" {
		return lis, task{}, nil
	}
	r, err := gateway.NewCertReloader(gateway.CertReloaderConfig{CertFile: t.cert, KeyFile: t.key, Logger: log})
	if err != nil {
		return nil, task{}, fmt.Errorf("--tls-cert/--tls-key: %w", err)
	}
	return tls.NewListener(lis, r.TLSConfig()), task{"tls-reload", func(ctx context.Context) error {
		hup := make(chan os.Signal, 1)
		signal.Notify(hup, syscall.SIGHUP)
		defer signal.Stop(hup)
		watch := make(chan error, 1)
		go func() { watch <- r.Run(ctx) }()
		for {
			select {
			case <-hup:
				log.Info("SIGHUP: reloading the TLS certificate")
				_ = r.Reload() // logged; the current certificate stays
			case err := <-watch:
				if errors.Is(err, context.Canceled) {
					return nil
				}
				return err
			}
		}
	}}, nil
}

// tokenAuth holds the options of the built-in handshake token check.
type tokenAuth struct {
	secret, param string
}

func (a *tokenAuth) define(s *cli.Set) {
	s.String(&a.secret, "auth-hmac-secret", "", "admit only clients with a valid HS256 token (JWT compact form, exp required) signed with this secret, at least 16 bytes; prefer the environment variable to the flag (empty: no check)")
	s.String(&a.param, "auth-token-param", gateway.DefaultTokenParam, "query parameter carrying the token (an Authorization: Bearer header works too)")
}

// hook returns the OnHandshake hook, or nil without a secret.
func (a *tokenAuth) hook() (func(*gateway.Handshake) error, error) {
	if a.secret == "" {
		return nil, nil
	}
	check, err := gateway.HMACTokenCheck(gateway.TokenCheck{Secret: []byte(a.secret), QueryParam: a.param})
	if err != nil {
		return nil, fmt.Errorf("--auth-hmac-secret: %w", err)
	}
	return check, nil
}
