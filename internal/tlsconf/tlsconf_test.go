package tlsconf_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"

	"github.com/gatewayworker/gatewayworker/internal/tlsconf"
	"github.com/gatewayworker/gatewayworker/internal/tlsconf/tlsconftest"
)

func TestNewOff(t *testing.T) {
	tl, err := tlsconf.New(tlsconf.Config{})
	if tl != nil || err != nil {
		t.Fatalf("New(zero) = %v, %v; want nil, nil", tl, err)
	}
	if tl.ServerOptions() != nil || tl.DialOptions() != nil || tl.ServerConfig() != nil || tl.ClientConfig() != nil {
		t.Fatal("a nil *TLS returned options")
	}
}

func TestNewErrors(t *testing.T) {
	ca := tlsconftest.NewCA(t, "ca")
	good := ca.Issue("node")
	notPEM := filepath.Join(t.TempDir(), "empty.pem")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	for name, tc := range map[string]struct {
		cfg  tlsconf.Config
		want error
	}{
		"cert only":   {tlsconf.Config{CertFile: good.CertFile}, tlsconf.ErrIncomplete},
		"no ca":       {tlsconf.Config{CertFile: good.CertFile, KeyFile: good.KeyFile}, tlsconf.ErrIncomplete},
		"ca not pem":  {tlsconf.Config{CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: notPEM}, tlsconf.ErrNoCACert},
		"ca missing":  {tlsconf.Config{CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: notPEM + ".gone"}, os.ErrNotExist},
		"key missing": {tlsconf.Config{CertFile: good.CertFile, KeyFile: notPEM + ".gone", CAFile: good.CAFile}, os.ErrNotExist},
		"old tls": {tlsconf.Config{CertFile: good.CertFile, KeyFile: good.KeyFile, CAFile: good.CAFile,
			MinVersion: tls.VersionTLS11}, tlsconf.ErrInvalidConfig},
	} {
		t.Run(name, func(t *testing.T) {
			tl, err := tlsconf.New(tc.cfg)
			if !errors.Is(err, tc.want) || tl != nil {
				t.Fatalf("New = %v, %v; want nil, %v", tl, err, tc.want)
			}
		})
	}
	tl, err := tlsconf.New(good)
	if err != nil {
		t.Fatal(err)
	}
	if s := tl.ServerConfig(); s.ClientAuth != tls.RequireAndVerifyClientCert || s.MinVersion != tlsconf.DefaultMinVersion {
		t.Fatalf("server config: client auth %v, min version %x", s.ClientAuth, s.MinVersion)
	}
}

// syncBuffer is a bytes.Buffer safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// serve runs a gRPC health server with the TLS of cfg on 127.0.0.1 and
// returns its address and its log.
func serve(t *testing.T, cfg tlsconf.Config) (string, *syncBuffer) {
	t.Helper()
	logs := new(syncBuffer)
	cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tl, err := tlsconf.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(tl.ServerOptions()...)
	healthpb.RegisterHealthServer(srv, health.NewServer())
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { defer close(done); _ = srv.Serve(lis) }()
	t.Cleanup(func() { srv.Stop(); <-done })
	return lis.Addr().String(), logs
}

func check(addr string, opts ...grpc.DialOption) error {
	conn, err := grpc.NewClient(addr, opts...)
	if err != nil {
		return err
	}
	defer conn.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.WaitForReady(false))
	return err
}

func TestMutualTLS(t *testing.T) {
	ca := tlsconftest.NewCA(t, "cluster")
	addr, logs := serve(t, ca.Issue("server"))

	if err := check(addr, ca.Load("client").DialOptions()...); err != nil {
		t.Fatalf("a node of the cluster was refused: %v", err)
	}
	if strings.Contains(logs.String(), "refused") {
		t.Fatalf("the good handshake was logged as refused:\n%s", logs)
	}

	other := tlsconftest.NewCA(t, "other")
	noCert := ca.Load("x").ClientConfig()
	noCert.Certificates = nil
	for name, opt := range map[string]grpc.DialOption{
		"plaintext":              grpc.WithTransportCredentials(insecure.NewCredentials()),
		"cert of another CA":     grpc.WithTransportCredentials(credentials.NewTLS(otherClient(t, other, ca))),
		"no client cert":         grpc.WithTransportCredentials(credentials.NewTLS(noCert)),
		"stranger of another CA": other.Load("stranger").DialOptions()[0],
	} {
		t.Run(name, func(t *testing.T) {
			before := strings.Count(logs.String(), "internal TLS handshake refused")
			if err := check(addr, opt); err == nil {
				t.Fatal("call succeeded without a certificate of the cluster")
			}
			deadline := time.Now().Add(5 * time.Second)
			for strings.Count(logs.String(), "internal TLS handshake refused") == before {
				if time.Now().After(deadline) {
					t.Fatalf("refusal not logged:\n%s", logs)
				}
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
}

// otherClient is a client that trusts the cluster CA but presents a
// certificate of another CA.
func otherClient(t *testing.T, other, cluster *tlsconftest.CA) *tls.Config {
	t.Helper()
	c := other.Load("intruder").ClientConfig()
	c.RootCAs = cluster.Load("y").ClientConfig().RootCAs
	return c
}

func TestServerName(t *testing.T) {
	ca := tlsconftest.NewCA(t, "cluster")
	addr, _ := serve(t, ca.Issue("server", "gatewayworker.internal"))
	cfg := ca.Issue("client")
	for name, want := range map[string]bool{"gatewayworker.internal": true, "elsewhere.internal": false} {
		cfg.ServerName = name
		tl, err := tlsconf.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := check(addr, tl.DialOptions()...); (err == nil) != want {
			t.Fatalf("ServerName %s: err %v, want success %v", name, err, want)
		}
	}
}
