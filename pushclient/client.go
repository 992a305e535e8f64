package pushclient

import (
	"context"
	"crypto/tls"
	"fmt"
	"github.com/gatewayworker/gatewayworker/internal/errtext"
	"log/slog"
	"os"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/apihook"
	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// Defaults for zero Config fields.
const (
	// DefaultName is the name gateways show for the client when the host
	// name is unknown; by default it is the host name.
	DefaultName = "pushclient"
	// DefaultQueryTimeout bounds a query or Flush whose ctx has no deadline.
	DefaultQueryTimeout = 10 * time.Second
	// DefaultMaxQueueAge is how long a command may wait for its gateway
	// (link down or too slow) before it is dropped unsent.
	DefaultMaxQueueAge = 30 * time.Second
)

// Config configures a Client.
type Config struct {
	// Registers are the register addresses (host:port); required.
	Registers []string
	// Secret is the cluster secret ("" sends none).
	Secret string
	// Name appears in the gateways' logs; default: the host name, else
	// DefaultName.
	Name string
	// TLS, if set, secures the links to registers and gateways.
	TLS *tls.Config
	// QueryTimeout bounds a query or Flush whose ctx has no deadline
	// (DefaultQueryTimeout).
	QueryTimeout time.Duration
	// MaxQueueAge is how long a command may wait in the queue of a gateway
	// whose link is down or too slow; older ones are dropped unsent, not
	// replayed when the gateway comes back (DefaultMaxQueueAge). Commands
	// for a gateway that is not in the set fail at once with
	// businessworker.ErrGatewayNotLinked.
	MaxQueueAge time.Duration
	// Logger receives link changes; nil discards.
	Logger *slog.Logger
}

// Client is a push client: the calls of businessworker.API (sends, groups,
// uids, sessions, queries) for a program that handles no events. Its methods
// are safe for concurrent use; the first call starts the client, and calls
// after Close fail with businessworker.ErrClosed. Errors are the
// businessworker package's (businessworker.ErrInvalidClientID,
// *businessworker.GatewayError...).
//
// Make a Client with New. The zero Client is not linked to anything: its
// calls return businessworker.ErrNotInitialized, ID returns "" and Close
// nil; none panics.
type Client struct {
	api *businessworker.API
	l   *linker.Linker
}

// New validates cfg and returns a Client; it does not connect yet.
func New(cfg Config) (*Client, error) {
	if len(cfg.Registers) == 0 {
		return nil, fmt.Errorf("%w: Registers is required", ErrInvalidConfig)
	}
	if cfg.QueryTimeout < 0 || cfg.MaxQueueAge < 0 {
		return nil, fmt.Errorf("%w: negative QueryTimeout or MaxQueueAge", ErrInvalidConfig)
	}
	return newClient(cfg, linker.Config{Registers: cfg.Registers})
}

// newClient builds a Client over the linker config base (tests give it a
// Source instead of registers).
func newClient(cfg Config, base linker.Config) (*Client, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	base.Secret = cfg.Secret
	base.Name = name(cfg.Name)
	base.QueryTimeout = cfg.QueryTimeout
	base.MaxQueueAge = cfg.MaxQueueAge
	base.Logger = cfg.Logger
	base.Lazy = true
	if cfg.TLS != nil {
		base.DialOptions = []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg.TLS))}
	}
	l, err := linker.New(base)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, errtext.Strip(err))
	}
	return &Client{api: apihook.NewAPI(l).(*businessworker.API), l: l}, nil
}

func name(n string) string {
	if n != "" {
		return n
	}
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return DefaultName
}

// ID returns the client's id as gateways see it: random per Client, "" for
// the zero Client.
func (c *Client) ID() string {
	if c.l == nil {
		return ""
	}
	return c.l.ID()
}

// Close sends what is still queued, unlinks and stops the client's
// goroutines; sending what is queued takes at most about a second per
// gateway. If ctx ends first, Close returns ctx's error at once and the
// client finishes stopping in the background. Call Flush before it to be sure
// every command was applied. Close is idempotent: later calls return nil.
func (c *Client) Close(ctx context.Context) error {
	if c.l == nil {
		return nil
	}
	done := make(chan error, 1)
	go func() { done <- c.l.Close() }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
