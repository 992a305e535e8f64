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
)

// Defaults for zero Config fields.
const (
	// DefaultEventWindow is the most events each gateway sends to a worker
	// before the worker acknowledges them.
	DefaultEventWindow = 1024
	// DefaultEventWindowBytes is the most event bytes each gateway sends to
	// a worker before the worker acknowledges them (8 MiB).
	DefaultEventWindowBytes = 8 << 20
	// DefaultSlowHandler is how long a handler may run before it is logged
	// and counted (GatewayWorker's processTimeout).
	DefaultSlowHandler = 30 * time.Second
	// DefaultStopTimeout is how long Run waits for the events in hand at
	// shutdown, and then again for the final flush and OnWorkerStop.
	DefaultStopTimeout = 10 * time.Second
	// DefaultClientIdleTimeout is how long a worker remembers a client
	// (its remote address, its session changes not yet confirmed) after
	// the client's last event.
	DefaultClientIdleTimeout = time.Hour
	// DefaultMaxQueueAge is how long a command may wait for its gateway
	// (link down or too slow) before it is dropped unsent and counted.
	DefaultMaxQueueAge = 30 * time.Second
	// DefaultClientSweepInterval is how often a worker forgets the clients
	// it will get no more events of (their gateway left, or routes them to
	// another worker) and idle ones.
	DefaultClientSweepInterval = time.Second
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
	// EventWindow and EventWindowBytes bound the events in hand from one
	// gateway: sent to this worker and not yet handled
	// (DefaultEventWindow, DefaultEventWindowBytes; a gateway may allow
	// fewer). When a worker falls behind, its gateways stop reading the
	// clients whose events wait, so TCP pushes back on them; no event is
	// dropped. A worker's memory for events is about EventWindowBytes per
	// gateway.
	EventWindow      int
	EventWindowBytes int
	// SlowHandler: a handler running longer is logged once (with the client
	// id) and counted in gatewayworker_worker_slow_handlers_total; it is not
	// interrupted (DefaultSlowHandler; negative: never reported).
	SlowHandler time.Duration
	// StopTimeout bounds the shutdown steps of Run (DefaultStopTimeout).
	StopTimeout time.Duration
	// ClientIdleTimeout is how long the worker remembers a client after its
	// last event (DefaultClientIdleTimeout). The memory is the client's
	// remote address and its session changes the gateway has not confirmed
	// yet; a client forgotten while still connected shows RemoteAddr ""
	// from then on. Clients of a gateway that left, and clients the gateway
	// routes to another worker, are forgotten within
	// DefaultClientSweepInterval.
	ClientIdleTimeout time.Duration
	// MaxQueueAge is how long a command (a send, a join, a session
	// write-back...) may wait in the queue of a gateway whose link is down
	// or too slow; older ones are dropped unsent and counted in
	// gatewayworker_worker_commands_expired_total (DefaultMaxQueueAge).
	// Commands for a gateway that is not in the set fail at once with
	// ErrGatewayNotLinked.
	MaxQueueAge time.Duration
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
	if c.EventWindow < 0 || c.EventWindowBytes < 0 || c.StopTimeout < 0 || c.ClientIdleTimeout < 0 || c.MaxQueueAge < 0 {
		return fmt.Errorf("%w: negative EventWindow, EventWindowBytes, StopTimeout, ClientIdleTimeout or MaxQueueAge", ErrInvalidConfig)
	}
	if c.StopTimeout == 0 {
		c.StopTimeout = DefaultStopTimeout
	}
	if c.ClientIdleTimeout == 0 {
		c.ClientIdleTimeout = DefaultClientIdleTimeout
	}
	if c.MaxQueueAge == 0 {
		c.MaxQueueAge = DefaultMaxQueueAge
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
