package gateway

import (
	"fmt"
	"github.com/gatewayworker/gatewayworker/internal/discovery"
	"log/slog"
	"net/netip"
	"os"
	"time"

	"crypto/tls"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/wsconn"
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
	// DefaultCompressionThreshold is the smallest message (payload bytes)
	// sent compressed to a client that negotiated permessage-deflate.
	DefaultCompressionThreshold = 256
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
	// DefaultLinkWindow is the most events a worker link has in flight
	// (sent to the worker and not acknowledged).
	DefaultLinkWindow = 1024
	// DefaultLinkWindowBytes is the most event bytes a worker link has in
	// flight (8 MiB).
	DefaultLinkWindowBytes = 8 << 20
	// DefaultClientWindow is the most events of one client queued or in
	// flight to workers (not acknowledged).
	DefaultClientWindow = 64
	// DefaultNoWorkerTimeout is how long a client's events are held while
	// no worker is linked before the client is closed with 1013.
	DefaultNoWorkerTimeout = 10 * time.Second
	// MaxLinkMessageSize is the largest client message the internal links
	// carry (64 MiB): MaxMessageSize may not exceed it.
	MaxLinkMessageSize = 64 << 20
	// DefaultDrainTimeout bounds the shutdown drain of client queues.
	DefaultDrainTimeout = 10 * time.Second
	// DefaultMaxHandshakes bounds the handshakes in progress at once.
	DefaultMaxHandshakes = 10000
	// DefaultMaxConnectionsPerIP is 0: no limit per client address.
	DefaultMaxConnectionsPerIP = 0
	// DefaultHandshakeRatePerIP is 0: no handshake rate limit per address.
	DefaultHandshakeRatePerIP = 0
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
	// MaxConnections caps client connections (upgraded, or past the checks
	// of their handshake); past it a client gets HTTP 503 before the
	// upgrade. Handshakes still in progress do not count: MaxHandshakes
	// bounds them. 0 = no limit.
	MaxConnections int
	// MaxHandshakes bounds the handshakes in progress at once (accepted
	// sockets not yet upgraded or refused, PROXY header included). A
	// connection past it is answered HTTP 503 at once, without reading its
	// request, and closed (DefaultMaxHandshakes).
	MaxHandshakes int
	// MaxConnectionsPerIP caps the connections of one client address
	// (counted as MaxConnections; an IPv6 client by its /64); past it a
	// client gets HTTP 503. 0 = no limit.
	MaxConnectionsPerIP int
	// HandshakeRatePerIP limits the handshakes per second one client
	// address may start (a token bucket of HandshakeBurstPerIP, default
	// max(1, HandshakeRatePerIP)); a client over it gets HTTP 429. Refused
	// handshakes take a token too. 0 = no limit.
	HandshakeRatePerIP  float64
	HandshakeBurstPerIP int
	// ProxyProtocol: every client connection begins with a PROXY protocol
	// header (version 1 or 2), read before the HTTP request, whose source
	// address is the client's. A connection without a valid header is
	// closed (no response). Only for a listener that nothing but the load
	// balancer can reach; with TrustedProxies set, a header is accepted
	// only from a connection whose own address is trusted.
	ProxyProtocol bool
	// TrustedProxies are the networks of the HTTP proxies whose
	// X-Forwarded-For is believed: for a client connecting from one of
	// them, the address is the right-most X-Forwarded-For entry that is not
	// itself trusted (port 0: the header carries none). Empty: the header
	// is ignored.
	TrustedProxies []netip.Prefix
	// Subprotocols the gateway supports: the first one the client offers
	// (Sec-WebSocket-Protocol) is chosen and named in the response;
	// OnHandshake may choose another offered one. The worker sees the
	// choice in its handshake data. Empty: none is chosen unless
	// OnHandshake sets one.
	Subprotocols []string
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
	// DisableCompression turns permessage-deflate (RFC 7692) off. By
	// default (false, so that the zero Config compresses) the gateway
	// accepts a client's offer of it, without context takeover in either
	// direction so that a connection keeps no compression state, and sends
	// the messages of at least CompressionThreshold bytes compressed: once
	// per send command, the same bytes to every client that negotiated it.
	// MaxMessageSize applies to the decompressed size of what clients send.
	DisableCompression bool
	// CompressionThreshold is the smallest message payload, in bytes, sent
	// compressed (DefaultCompressionThreshold; 1 tries every message);
	// smaller ones go uncompressed, as does a message that compression
	// does not shrink.
	CompressionThreshold int
	// OnHandshake, if set, runs before a client is accepted, on the
	// handshake goroutine of that client (it may block, bounded by
	// HandshakeTimeout; it runs concurrently for different clients). Return
	// a *HandshakeError to refuse the client with its HTTP status; any other
	// error refuses it with 403.
	OnHandshake func(h *Handshake) error

	// LinkWindow and LinkWindowBytes bound the events a worker link has in
	// flight: sent and not yet acknowledged (DefaultLinkWindow,
	// DefaultLinkWindowBytes; a worker may ask for less in its Hello). When
	// the events queued for a link fill its window, the gateway stops
	// reading the sockets of the clients whose events wait there until the
	// worker catches up: TCP pushes back on those clients. No event is
	// dropped.
	LinkWindow      int
	LinkWindowBytes int
	// ClientWindow bounds the events of one client queued or in flight to
	// workers (DefaultClientWindow): a client past it is not read until its
	// worker has handled half of them. So a client whose handler is stuck,
	// or that sends faster than its handler runs, takes at most this much
	// of its link's window and holds up no other client.
	ClientWindow int
	// NoWorkerTimeout bounds how long the events of a client are held, and
	// its socket not read, while no worker is linked
	// (DefaultNoWorkerTimeout). When a worker links in time, they are
	// delivered in order; past it the client is closed with 1013 (Try
	// Again Later) and counted (Stats.NoWorkerClosed).
	NoWorkerTimeout time.Duration
	// DrainTimeout bounds the shutdown: flushing client queues and closing
	// them with 1001 (DefaultDrainTimeout).
	DrainTimeout time.Duration
	// Logger receives the gateway's logs (nil: discard).
	Logger *slog.Logger
	// TLS, if set, secures the internal side (as businessworker.Config.TLS
	// and register.Config.TLS): the gateway's gRPC service, with
	// TLS.Certificates (set ClientCAs and ClientAuth to require workers'
	// certificates: mutual TLS), and its calls to the registers, verified
	// with RootCAs (ServerName, if set, is the name expected). The one
	// config serves both sides. nil: plaintext. The public WebSocket
	// listener is not affected: wrap it with tls.NewListener (see
	// CertReloader).
	TLS *tls.Config
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
		{"NoWorkerTimeout", &c.NoWorkerTimeout, DefaultNoWorkerTimeout},
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
		{"CompressionThreshold", &c.CompressionThreshold, DefaultCompressionThreshold},
		{"PingMaxMissed", &c.PingMaxMissed, DefaultPingMaxMissed},
		{"LinkWindow", &c.LinkWindow, DefaultLinkWindow},
		{"LinkWindowBytes", &c.LinkWindowBytes, DefaultLinkWindowBytes},
		{"ClientWindow", &c.ClientWindow, DefaultClientWindow},
		{"MessageBurst", &c.MessageBurst, 0},
		{"MaxHandshakes", &c.MaxHandshakes, DefaultMaxHandshakes},
		{"MaxConnectionsPerIP", &c.MaxConnectionsPerIP, DefaultMaxConnectionsPerIP},
		{"HandshakeBurstPerIP", &c.HandshakeBurstPerIP, 0},
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
	if c.MaxMessageSize > MaxLinkMessageSize {
		return c, fmt.Errorf("%w: MaxMessageSize %d is over %d, the largest message the links to workers carry",
			ErrInvalidConfig, c.MaxMessageSize, MaxLinkMessageSize)
	}
	if c.MessageRate < 0 {
		return c, fmt.Errorf("%w: MessageRate is negative", ErrInvalidConfig)
	}
	if c.HandshakeRatePerIP < 0 {
		return c, fmt.Errorf("%w: HandshakeRatePerIP is negative", ErrInvalidConfig)
	}
	if c.HandshakeRatePerIP > 0 && c.HandshakeBurstPerIP == 0 {
		c.HandshakeBurstPerIP = max(1, int(c.HandshakeRatePerIP))
	}
	for _, p := range c.Subprotocols {
		if !wsconn.ValidProtocol(p) {
			return c, fmt.Errorf("%w: subprotocol %q is not an HTTP token", ErrInvalidConfig, p)
		}
	}
	for _, p := range c.TrustedProxies {
		if !p.IsValid() {
			return c, fmt.Errorf("%w: invalid trusted proxy network", ErrInvalidConfig)
		}
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
	c.Subprotocols = append([]string(nil), c.Subprotocols...)
	c.TrustedProxies = append([]netip.Prefix(nil), c.TrustedProxies...)
	if c.TLS != nil {
		c.TLS = c.TLS.Clone()
	}
	return c, nil
}

// MaxLinkMessageSize is written as a value so go doc shows no internal
// name; it must stay the links' limit.
var _ = [1]struct{}{}[MaxLinkMessageSize-discovery.MaxLinkPayload]
