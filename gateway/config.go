package gateway

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
)

// Defaults for the zero values of Config.
const (
	// DefaultHandshakeTimeout bounds the WebSocket upgrade of a new client.
	DefaultHandshakeTimeout = 10 * time.Second
	// DefaultMaxMessageSize is the largest message (and frame) a client may send.
	DefaultMaxMessageSize = 1 << 20
	// DefaultMaxConnections is 0: no limit on client connections.
	DefaultMaxConnections = 0
	// DefaultMaxPending is the byte budget of one client's write queue.
	DefaultMaxPending = 1 << 20
	// DefaultWriteTimeout bounds one write to a client.
	DefaultWriteTimeout = 10 * time.Second
	// DefaultFrameTimeout bounds the arrival of a frame once its first byte
	// arrived (and of a fragmented message once begun): a slowloris guard.
	DefaultFrameTimeout = 10 * time.Second
	// DefaultPingInterval is how long a client may stay silent before the
	// gateway pings it.
	DefaultPingInterval = 25 * time.Second
	// DefaultPingMaxMissed is how many ping intervals without any frame from
	// the client are tolerated after the first ping.
	DefaultPingMaxMissed = 2
	// DefaultMaxUnacked bounds the events a worker link holds until acked.
	DefaultMaxUnacked = 10000
	// DefaultDrainTimeout bounds the shutdown drain of client queues.
	DefaultDrainTimeout = 10 * time.Second
)

// Config configures a Gateway. The zero value of every field means the
// documented default.
type Config struct {
	// Name is a human-readable name announced to registers (default: the
	// host name).
	Name string
	// Secret is the cluster secret required on the internal gRPC service.
	// Empty disables the check (loopback and development only).
	Secret string
	// Registers are the gRPC addresses of the registers. Empty: the gateway
	// does not announce itself (workers must be pointed at it directly).
	Registers []string
	// AdvertiseLAN is the address announced for the Link service (default:
	// the LAN listener's address).
	AdvertiseLAN string
	// AdvertisePublic is the client address announced (default: the public
	// listener's address).
	AdvertisePublic string

	// HandshakeTimeout bounds a client's WebSocket upgrade
	// (DefaultHandshakeTimeout).
	HandshakeTimeout time.Duration
	// MaxMessageSize is the largest message a client may send; larger ones
	// close it with 1009 (DefaultMaxMessageSize).
	MaxMessageSize int64
	// MaxFrameSize is the largest frame a client may send (default:
	// MaxMessageSize).
	MaxFrameSize int64
	// MaxConnections caps client connections, handshakes included; past it a
	// client gets HTTP 503 before the upgrade. 0 = no limit.
	MaxConnections int
	// AllowedOrigins restricts the Origin header ("https://a.example",
	// "*.example.com"); a client from another origin gets HTTP 403. Empty:
	// any origin.
	AllowedOrigins []string
	// MaxPending is the byte budget of a client's write queue; a client
	// past it is closed with 4000 (slow consumer) (DefaultMaxPending).
	MaxPending int
	// WriteTimeout bounds one write to a client; a client past it is closed
	// with 4000 (slow consumer) (DefaultWriteTimeout).
	WriteTimeout time.Duration
	// FrameTimeout bounds the arrival of a frame once begun, and of the rest
	// of a fragmented message (DefaultFrameTimeout).
	FrameTimeout time.Duration
	// PingInterval: a client silent that long is pinged; any frame from it
	// counts as alive (DefaultPingInterval).
	PingInterval time.Duration
	// PingMaxMissed: a client silent for PingInterval*(PingMaxMissed+1) is
	// closed with 4001 (DefaultPingMaxMissed).
	PingMaxMissed int
	// MessageRate limits the messages per second one client may send
	// (token bucket of MessageBurst, default burst: max(1, MessageRate));
	// a client over it is closed with 4002. 0: no limit.
	MessageRate  float64
	MessageBurst int
	// OnHandshake, if set, runs before a client is accepted, on the
	// handshake goroutine of that client (it may block, bounded by
	// HandshakeTimeout; it runs concurrently for different clients). Return
	// a *HandshakeError to refuse the client with its HTTP status; any other
	// error refuses it with 403.
	OnHandshake func(h *Handshake) error

	// MaxUnacked bounds the events a worker link keeps until acked
	// (DefaultMaxUnacked). Past it the oldest event is dropped and counted:
	// it is not redelivered if that worker fails.
	MaxUnacked int
	// DrainTimeout bounds the shutdown: flushing client queues and closing
	// them with 1001 (DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Logger receives the gateway's logs (nil: discard).
	Logger *slog.Logger
	// ServerOptions are extra options of the internal gRPC server (e.g.
	// TLS credentials).
	ServerOptions []grpc.ServerOption
	// DialOptions are extra options for dialling the registers (e.g. TLS
	// credentials: internal/tlsconf). Default: plaintext.
	DialOptions []grpc.DialOption
	// Metrics, if set, is where New registers the gateway's Prometheus
	// collector (gatewayworker_gateway_* metrics, see docs/operations.md).
	// nil: not exported (the counters of Stats are kept anyway).
	Metrics prometheus.Registerer
	// GatewayWorker enables GatewayWorker 4.x's internal protocol on a
	// second listener (compat_gatewayworker.go). Zero: off.
	GatewayWorker GatewayWorkerConfig
}

// withDefaults returns a copy of cfg with the defaults filled in, or an
// error for invalid values.
func (cfg Config) withDefaults() (Config, error) {
	c := cfg
	if c.Name == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "gateway"
		}
		c.Name = h
	}
	durations := []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"HandshakeTimeout", &c.HandshakeTimeout, DefaultHandshakeTimeout},
		{"WriteTimeout", &c.WriteTimeout, DefaultWriteTimeout},
		{"FrameTimeout", &c.FrameTimeout, DefaultFrameTimeout},
		{"PingInterval", &c.PingInterval, DefaultPingInterval},
		{"DrainTimeout", &c.DrainTimeout, DefaultDrainTimeout},
	}
	for _, d := range durations {
		if *d.v < 0 {
			return c, fmt.Errorf("%w: %s is negative", ErrInvalidConfig, d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	ints := []struct {
		name string
		v    *int
		def  int
	}{
		{"MaxConnections", &c.MaxConnections, DefaultMaxConnections},
		{"MaxPending", &c.MaxPending, DefaultMaxPending},
		{"PingMaxMissed", &c.PingMaxMissed, DefaultPingMaxMissed},
		{"MaxUnacked", &c.MaxUnacked, DefaultMaxUnacked},
		{"MessageBurst", &c.MessageBurst, 0},
	}
	for _, d := range ints {
		if *d.v < 0 {
			return c, fmt.Errorf("%w: %s is negative", ErrInvalidConfig, d.name)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if c.MaxMessageSize < 0 || c.MaxFrameSize < 0 {
		return c, fmt.Errorf("%w: MaxMessageSize or MaxFrameSize is negative", ErrInvalidConfig)
	}
	if c.MaxMessageSize == 0 {
		c.MaxMessageSize = DefaultMaxMessageSize
	}
	if c.MaxFrameSize == 0 {
		c.MaxFrameSize = c.MaxMessageSize
	}
	if c.MessageRate < 0 {
		return c, fmt.Errorf("%w: MessageRate is negative", ErrInvalidConfig)
	}
	if c.MessageRate > 0 && c.MessageBurst == 0 {
		c.MessageBurst = max(1, int(c.MessageRate))
	}
	for _, r := range c.Registers {
		if r == "" {
			return c, fmt.Errorf("%w: empty register address", ErrInvalidConfig)
		}
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	c.Registers = append([]string(nil), c.Registers...)
	c.AllowedOrigins = append([]string(nil), c.AllowedOrigins...)
	c.ServerOptions = append([]grpc.ServerOption(nil), c.ServerOptions...)
	c.DialOptions = append([]grpc.DialOption(nil), c.DialOptions...)
	return c, nil
}
