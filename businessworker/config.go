package businessworker

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"

	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// Defaults for zero Config fields.
const (
	// DefaultConcurrency is the number of goroutines handling events.
	DefaultConcurrency = linker.DefaultConcurrency
	// DefaultStopTimeout is how long Run waits for the events in hand at
	// shutdown, and then again for the final flush and OnWorkerStop.
	DefaultStopTimeout = 10 * time.Second
)

// Config configures a Worker.
type Config struct {
	// Registers are the register addresses (host:port); required.
	Registers []string
	// Secret is the cluster secret ("" sends none).
	Secret string
	// Name appears in the gateways' logs and stats; default: the host name.
	Name string
	// Handler is the business code; required.
	Handler Handler
	// Concurrency is the number of goroutines handling events
	// (DefaultConcurrency).
	Concurrency int
	// StopTimeout bounds the shutdown steps of Run (DefaultStopTimeout).
	StopTimeout time.Duration
	// TLS, if set, secures the links to registers and gateways.
	TLS *tls.Config
	// LeaderLeaseTTL is the TTL of the leader lease (Worker.IsLeader,
	// WithLeaderOnly): when the leader dies, another worker that reaches a
	// majority of the registers leads within this long. Each register is
	// asked for a grant of the TTL minus two polls (a poll is a tenth of it,
	// 50 to 500 ms), capped by the register (--max-leader-ttl, default
	// 10 s). 0: DefaultLeaderLeaseTTL; at least 300 ms.
	LeaderLeaseTTL time.Duration
	// Logger receives link changes and handler panics; nil discards.
	Logger *slog.Logger
	// Metrics, if set, is where New registers the worker's Prometheus
	// collector: event handling latency, handler panics, gateways and
	// links, gRPC errors (gatewayworker_worker_* metrics, see
	// docs/operations.md). nil: not exported. Serve the registry with
	// promhttp on an address of your choice.
	Metrics prometheus.Registerer
}

func (c *Config) validate(haveSource bool) error {
	if len(c.Registers) == 0 && !haveSource {
		return fmt.Errorf("%w: Registers is required", ErrInvalidConfig)
	}
	if c.Handler == nil {
		return fmt.Errorf("%w: Handler is required", ErrInvalidConfig)
	}
	if c.Concurrency < 0 || c.StopTimeout < 0 {
		return fmt.Errorf("%w: negative Concurrency or StopTimeout", ErrInvalidConfig)
	}
	if c.Concurrency == 0 {
		c.Concurrency = DefaultConcurrency
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	c.Name = defaultName(c.Name)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func defaultName(name string) string {
	if name != "" {
		return name
	}
	if h, err := os.Hostname(); err == nil {
		return h
	}
	return "worker"
}

func dialOptions(t *tls.Config) []grpc.DialOption {
	if t == nil {
		return nil
	}
	return []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(t))}
}
