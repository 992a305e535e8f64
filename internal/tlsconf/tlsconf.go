package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// DefaultMinVersion is the lowest TLS version of internal links: every node
// is ours, so there is no old peer to wait for.
const DefaultMinVersion = tls.VersionTLS13

// Config names the PEM files of a node's identity. Either all three files
// are set (mTLS on) or none (TLS off).
type Config struct {
	// CertFile is the node's certificate chain (PEM). It serves as server
	// certificate and as client certificate.
	CertFile string
	// KeyFile is the private key of CertFile (PEM).
	KeyFile string
	// CAFile holds the CA certificates (PEM) that peers' certificates must
	// chain to, both ways.
	CAFile string
	// ServerName, when set, is the name checked in the certificate of every
	// server this node dials, instead of the dialled host. Default: the
	// dialled host name or IP address.
	ServerName string
	// MinVersion is the lowest TLS version accepted (DefaultMinVersion; at
	// least tls.VersionTLS12).
	MinVersion uint16
	// Logger receives refused handshakes on the server side. Default:
	// discard.
	Logger *slog.Logger
}

// Enabled reports whether c names any file (TLS is wanted).
func (c Config) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" }

// TLS is a loaded identity: the tls.Configs of both sides and the gRPC
// options built on them. A nil *TLS means plaintext; its methods return nil.
type TLS struct {
	server *tls.Config
	client *tls.Config
	log    *slog.Logger
}

// New loads the files of cfg. It returns nil, nil for a Config that names no
// file (TLS off), and an error wrapping ErrIncomplete, ErrNoCACert,
// ErrInvalidConfig or the file error otherwise.
func New(cfg Config) (*TLS, error) {
	if !cfg.Enabled() {
		return nil, nil
	}
	if cfg.CertFile == "" || cfg.KeyFile == "" || cfg.CAFile == "" {
		return nil, ErrIncomplete
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = DefaultMinVersion
	}
	if cfg.MinVersion < tls.VersionTLS12 {
		return nil, fmt.Errorf("%w: MinVersion below TLS 1.2", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: load %s and %s: %w", cfg.CertFile, cfg.KeyFile, err)
	}
	pem, err := os.ReadFile(cfg.CAFile)
	if err != nil {
		return nil, fmt.Errorf("tlsconf: read CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%w: %s", ErrNoCACert, cfg.CAFile)
	}
	return &TLS{
		server: &tls.Config{
			Certificates: []tls.Certificate{cert},
			ClientCAs:    pool,
			ClientAuth:   tls.RequireAndVerifyClientCert,
			MinVersion:   cfg.MinVersion,
		},
		client: &tls.Config{
			Certificates: []tls.Certificate{cert},
			RootCAs:      pool,
			ServerName:   cfg.ServerName,
			MinVersion:   cfg.MinVersion,
		},
		log: cfg.Logger,
	}, nil
}

// ServerConfig returns a copy of the server side: the node's certificate,
// client certificates required and verified against the CA. Nil on a nil *TLS.
func (t *TLS) ServerConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.server.Clone()
}

// ClientConfig returns a copy of the client side: the node's certificate
// presented, the server's verified against the CA. Nil on a nil *TLS. It is
// what businessworker.Config.TLS and pushclient.Config.TLS take.
func (t *TLS) ClientConfig() *tls.Config {
	if t == nil {
		return nil
	}
	return t.client.Clone()
}

// Config returns one configuration for both sides, as gateway.Config.TLS,
// register.Config.TLS, businessworker.Config.TLS and pushclient.Config.TLS
// take it: the node's certificate, client certificates required and
// verified against the CA (server side), the server's verified against the
// CA (client side). Nil on a nil *TLS.
func (t *TLS) Config() *tls.Config {
	if t == nil {
		return nil
	}
	c := t.server.Clone()
	c.RootCAs = t.client.RootCAs
	c.ServerName = t.client.ServerName
	return c
}

// ServerOptions returns the gRPC server options of the TLS side (see
// ServerOption). Nil on a nil *TLS.
func (t *TLS) ServerOptions() []grpc.ServerOption {
	if t == nil {
		return nil
	}
	return []grpc.ServerOption{ServerOption(t.ServerConfig(), t.log)}
}

// DialOptions returns the gRPC dial options of the client side. Nil on a
// nil *TLS.
func (t *TLS) DialOptions() []grpc.DialOption {
	if t == nil {
		return nil
	}
	return []grpc.DialOption{DialOption(t.ClientConfig())}
}

// ServerOption returns gRPC server credentials of cfg that log every
// refused handshake (peer address and reason) on log at warn level, or at
// debug level for a peer that hung up without a word (health checks).
func ServerOption(cfg *tls.Config, log *slog.Logger) grpc.ServerOption {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return grpc.Creds(&loggingCreds{TransportCredentials: credentials.NewTLS(cfg), log: log})
}

// DialOption returns gRPC transport credentials of cfg.
func DialOption(cfg *tls.Config) grpc.DialOption {
	return grpc.WithTransportCredentials(credentials.NewTLS(cfg))
}

// loggingCreds logs the server handshakes it refuses.
type loggingCreds struct {
	credentials.TransportCredentials
	log *slog.Logger
}

func (c *loggingCreds) ServerHandshake(conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	out, info, err := c.TransportCredentials.ServerHandshake(conn)
	if err != nil {
		level := slog.LevelWarn
		if errors.Is(err, io.EOF) {
			level = slog.LevelDebug
		}
		c.log.Log(context.Background(), level, "internal TLS handshake refused",
			"peer", conn.RemoteAddr().String(), "err", err)
	}
	return out, info, err
}

func (c *loggingCreds) Clone() credentials.TransportCredentials {
	return &loggingCreds{TransportCredentials: c.TransportCredentials.Clone(), log: c.log}
}
