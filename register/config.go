package register

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"crypto/tls"
	"github.com/prometheus/client_golang/prometheus"
)

// Defaults for Config zero values.
const (
	// DefaultLeaseTTL is the lease TTL of a gateway that asks for none.
	DefaultLeaseTTL = 10 * time.Second
	// DefaultMaxTTL caps the lease TTL a gateway may ask for.
	DefaultMaxTTL = 60 * time.Second
	// DefaultKeepaliveInterval is how often gateways are told to send a
	// keepalive (lowered to a third of the lease TTL when that is shorter).
	DefaultKeepaliveInterval = 2 * time.Second
	// DefaultWatchBuffer is the number of changes buffered per watcher
	// before it is dropped as too slow.
	DefaultWatchBuffer = 1024
	// DefaultShutdownTimeout bounds the graceful stop of Serve.
	DefaultShutdownTimeout = 5 * time.Second
	// MinTTL is the shortest lease TTL granted; shorter asks are raised.
	MinTTL = 100 * time.Millisecond
)

// Config configures a Register. The zero value of each field means its
// documented default.
type Config struct {
	// Name of the register, sent to gateways for their logs. Default: the
	// host name.
	Name string
	// Secret is the cluster secret every call must carry. "" disables the
	// check: only for loopback or development setups.
	Secret string
	// DefaultTTL is the lease TTL of a gateway that asks for none.
	// Default: DefaultLeaseTTL.
	DefaultTTL time.Duration
	// MaxTTL caps the lease TTL a gateway may ask for. Default: DefaultMaxTTL.
	MaxTTL time.Duration
	// KeepaliveInterval is told to gateways. Default: DefaultKeepaliveInterval.
	KeepaliveInterval time.Duration
	// WatchBuffer is the number of changes buffered per watcher.
	// Default: DefaultWatchBuffer.
	WatchBuffer int
	// ShutdownTimeout bounds the graceful stop of Serve, after which the
	// remaining streams are cut. Default: DefaultShutdownTimeout.
	ShutdownTimeout time.Duration
	// Store holds the set of gateways. Default: a MemoryStore owned (and
	// closed) by the Register. A Store passed here is not closed by the
	// Register and may be shared by several registers.
	Store Store
	// Logger receives the register's logs. Default: discard.
	Logger *slog.Logger
	// TLS, if set, secures the register's gRPC service (as the TLS of
	// gateway.Config, businessworker.Config and pushclient.Config): its
	// certificate is TLS.Certificates; set ClientCAs and ClientAuth to
	// require the callers' certificates (mutual TLS). Refused handshakes
	// are logged. nil: plaintext.
	TLS *tls.Config
	// ClusterSize is the number of registers in the cluster, told to the
	// workers asking for the leader lease: a worker leads only while more
	// than half of this many registers grant it the lease. Set it to the
	// same value on every register when their Join lists do not each name
	// all the other registers. 0: with a ClusterStore, its Size (1 + its
	// distinct Join addresses, or the most registers it has seen alive at
	// once, whichever is larger); else 1.
	ClusterSize int
	// MaxLeaderTTL caps the TTL of a leader-lease grant. A register grants
	// no lease during its first MaxLeaderTTL, since it may have granted one
	// before a restart it does not remember. Default: DefaultMaxLeaderTTL.
	MaxLeaderTTL time.Duration
	// Metrics, if set, is where New registers the register's Prometheus
	// collector (gatewayworker_register_* metrics, see docs/operations.md).
	// nil: not exported.
	Metrics prometheus.Registerer
}

// withDefaults returns a copy of c with defaults filled in, or an error.
func (c Config) withDefaults() (Config, error) {
	if c.Name == "" {
		if h, err := os.Hostname(); err == nil && h != "" {
			c.Name = h
		} else {
			c.Name = "register"
		}
	}
	if c.DefaultTTL == 0 {
		c.DefaultTTL = DefaultLeaseTTL
	}
	if c.MaxTTL == 0 {
		c.MaxTTL = DefaultMaxTTL
	}
	if c.KeepaliveInterval == 0 {
		c.KeepaliveInterval = DefaultKeepaliveInterval
	}
	if c.WatchBuffer == 0 {
		c.WatchBuffer = DefaultWatchBuffer
	}
	if c.ShutdownTimeout == 0 {
		c.ShutdownTimeout = DefaultShutdownTimeout
	}
	if c.MaxLeaderTTL == 0 {
		c.MaxLeaderTTL = DefaultMaxLeaderTTL
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	switch {
	case c.ClusterSize < 0:
		return c, fmt.Errorf("%w: negative ClusterSize", ErrInvalidConfig)
	case c.MaxLeaderTTL < MinTTL:
		return c, fmt.Errorf("%w: MaxLeaderTTL %v below MinTTL", ErrInvalidConfig, c.MaxLeaderTTL)
	case c.DefaultTTL < MinTTL:
		return c, fmt.Errorf("%w: DefaultTTL %v below MinTTL", ErrInvalidConfig, c.DefaultTTL)
	case c.MaxTTL < c.DefaultTTL:
		return c, fmt.Errorf("%w: MaxTTL %v below DefaultTTL %v", ErrInvalidConfig, c.MaxTTL, c.DefaultTTL)
	case c.KeepaliveInterval < 0:
		return c, fmt.Errorf("%w: negative KeepaliveInterval", ErrInvalidConfig)
	case c.WatchBuffer < 0:
		return c, fmt.Errorf("%w: negative WatchBuffer", ErrInvalidConfig)
	case c.ShutdownTimeout < 0:
		return c, fmt.Errorf("%w: negative ShutdownTimeout", ErrInvalidConfig)
	}
	return c, nil
}
