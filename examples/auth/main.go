// Command auth mints the tokens a gateway started with --auth-hmac-secret
// accepts, in two ways:
//
//	# print one token and the URL to connect with
//	GW_AUTH_HMAC_SECRET=... go run ./examples/auth --user alice --ttl 1h
//
//	# serve a (toy) login endpoint: GET /token?user=alice -> {"token":...,"url":...}
//	GW_AUTH_HMAC_SECRET=... go run ./examples/auth --http 127.0.0.1:8081
//
// with a gateway started as
//
//	GW_AUTH_HMAC_SECRET=... gatewayworker gateway   (or --auth-hmac-secret)
//
// A token is a JWT (HS256, "sub" = the user, "exp" required): any JWT
// library can mint it instead. The client puts it in its WebSocket URL
// (ws://host:7272/?token=...) or, outside browsers, in an
// "Authorization: Bearer" header. The gateway refuses a missing, forged or
// expired token with 401 before the upgrade. The worker receives the
// token in the Connect event's query and may read "sub" from it without
// checking the signature again.
//
// A real login endpoint authenticates the user first (password, session
// cookie, OAuth): this one trusts the user parameter and is for trying the
// gateway out only.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gatewayworker/gatewayworker/gateway"
)

func main() {
	user := flag.String("user", "", "mint one token for this user and print it")
	ttl := flag.Duration("ttl", time.Hour, "lifetime of the tokens")
	ws := flag.String("ws", "ws://127.0.0.1:7272/", "gateway WebSocket URL printed with the token")
	addr := flag.String("http", "", "serve GET /token?user=NAME on this address instead")
	flag.Parse()
	secret := []byte(os.Getenv("GW_AUTH_HMAC_SECRET"))
	if len(secret) == 0 {
		fmt.Fprintln(os.Stderr, "auth: set GW_AUTH_HMAC_SECRET to the gateway's --auth-hmac-secret")
		os.Exit(2)
	}
	m := minter{secret: secret, ttl: *ttl, ws: *ws}
	switch {
	case *addr != "":
		ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
		if err := serve(ctx, *addr, m); err != nil {
			fmt.Fprintln(os.Stderr, "auth:", err)
			os.Exit(1)
		}
	case *user != "":
		tok, u, err := m.mint(*user)
		if err != nil {
			fmt.Fprintln(os.Stderr, "auth:", err)
			os.Exit(2)
		}
		fmt.Println(tok)
		fmt.Println(u)
	default:
		flag.Usage()
		os.Exit(2)
	}
}

// minter mints tokens and the URLs that carry them.
type minter struct {
	secret []byte
	ttl    time.Duration
	ws     string
}

// mint returns a token for user and the gateway URL with it as ?token=.
func (m minter) mint(user string) (token, wsURL string, err error) {
	if user == "" {
		return "", "", errors.New("empty user")
	}
	token, err = gateway.SignToken(m.secret, user, time.Now().Add(m.ttl))
	if err != nil {
		return "", "", err
	}
	u, err := url.Parse(m.ws)
	if err != nil {
		return "", "", fmt.Errorf("--ws: %w", err)
	}
	q := u.Query()
	q.Set(gateway.DefaultTokenParam, token)
	u.RawQuery = q.Encode()
	return token, u.String(), nil
}

// ServeHTTP answers GET /token?user=NAME with {"token":..., "url":...}.
func (m minter) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet || r.URL.Path != "/token" {
		http.NotFound(w, r)
		return
	}
	tok, u, err := m.mint(r.URL.Query().Get("user"))
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_ = json.NewEncoder(w).Encode(map[string]string{"token": tok, "url": u})
}

// serve runs the login endpoint until ctx is done.
func serve(ctx context.Context, addr string, m minter) error {
	srv := &http.Server{Addr: addr, Handler: m, ReadHeaderTimeout: 5 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		shut, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shut)
		<-errc
		return nil
	}
}
