package main

import (
	"context"
	"fmt"
	"net"
	"time"

	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/internal/cli"
	"github.com/gatewayworker/gatewayworker/internal/clientaddr"
	"github.com/gatewayworker/gatewayworker/internal/metrics"
)

type gatewayOptions struct {
	listen    string
	lan       string
	registers []string
	name      string
	secret    string
	lanTLS    internalTLS
	tls       publicTLS
	auth      tokenAuth
	admin     string
	limits    gatewayLimits
	gwLAN     gatewayWorkerLAN // --gatewayworker-* (compat_gatewayworker.go)
	log       cli.Logging
}

// gatewayLimits are the client-facing options shared by gateway and demo.
type gatewayLimits struct {
	compression      compressionOptions
	handshakeTimeout time.Duration
	maxMessageSize   int64
	maxFrameSize     int64
	frameTimeout     time.Duration
	maxConnections   int
	allowedOrigins   []string
	maxPending       int64
	writeTimeout     time.Duration
	pingInterval     time.Duration
	pingMaxMissed    int
	messageRate      float64
	messageBurst     int
	drainTimeout     time.Duration
	noWorkerTimeout  time.Duration
	linkWindow       int
	linkWindowBytes  int64
	clientWindow     int
	advertisePublic  string
	advertiseLAN     string

	subprotocols        []string
	maxHandshakes       int
	maxConnectionsPerIP int
	handshakeRatePerIP  float64
	handshakeBurstPerIP int
	proxyProtocol       bool
	trustedProxies      []string
}

func (l *gatewayLimits) define(s *cli.Set) {
	l.compression.define(s)
	s.Duration(&l.handshakeTimeout, "handshake-timeout", gateway.DefaultHandshakeTimeout, "time a client has to finish its WebSocket upgrade")
	s.Int64(&l.maxMessageSize, "max-message-size", gateway.DefaultMaxMessageSize, "largest client message (and frame); larger: close 1009")
	s.Int64(&l.maxFrameSize, "max-frame-size", 0, "largest client frame, checked on its header (0: --max-message-size); larger: close 1009")
	s.Duration(&l.frameTimeout, "frame-timeout", gateway.DefaultFrameTimeout, "time a started frame (or fragmented message) has to arrive; past it: close 1008")
	s.Int(&l.maxConnections, "max-connections", gateway.DefaultMaxConnections, "client connections at most (0: no limit); past it upgrades get 503")
	s.List(&l.allowedOrigins, "allowed-origins", nil, "comma-separated allowed Origin values, *.example.com patterns allowed (empty: any)")
	s.Int64(&l.maxPending, "max-pending", int64(gateway.DefaultMaxPending), "bytes queued per client at most; past it: close 4000 (slow consumer)")
	s.Duration(&l.writeTimeout, "write-timeout", gateway.DefaultWriteTimeout, "deadline of one write to a client; past it: close 4000")
	s.Duration(&l.pingInterval, "ping-interval", gateway.DefaultPingInterval, "ping a client silent for this long")
	s.Int(&l.pingMaxMissed, "ping-max-missed", gateway.DefaultPingMaxMissed, "close a client (4001) after this many unanswered pings")
	s.Float(&l.messageRate, "message-rate", 0, "messages per second a client may send (0: no limit); over: close 4002")
	s.Int(&l.messageBurst, "message-burst", 0, "burst allowed above --message-rate (0: one second's worth)")
	s.Duration(&l.drainTimeout, "drain-timeout", gateway.DefaultDrainTimeout, "on shutdown, time to flush and close clients with 1001")
	s.Duration(&l.noWorkerTimeout, "no-worker-timeout", gateway.DefaultNoWorkerTimeout, "while no worker is linked, hold client events (not reading those clients) this long; past it: close 1013")
	s.Int(&l.linkWindow, "link-window", gateway.DefaultLinkWindow, "client events in flight to one worker at most (sent, not acknowledged); past it the clients whose events wait are not read")
	s.Int64(&l.linkWindowBytes, "link-window-bytes", gateway.DefaultLinkWindowBytes, "event bytes in flight to one worker at most")
	s.Int(&l.clientWindow, "client-window", gateway.DefaultClientWindow, "events of one client in flight to workers at most; past it that client is not read until its worker catches up")
	s.String(&l.advertisePublic, "advertise-public", "", "client address announced to the register (default: --listen)")
	s.String(&l.advertiseLAN, "advertise-lan", "", "internal address announced to the register (default: --lan)")
	s.List(&l.subprotocols, "subprotocols", nil, "comma-separated WebSocket subprotocols supported; the first the client offers is chosen (empty: none)")
	s.Int(&l.maxHandshakes, "max-handshakes", gateway.DefaultMaxHandshakes, "handshakes in progress at most (apart from --max-connections); past it: 503 at once")
	s.Int(&l.maxConnectionsPerIP, "max-connections-per-ip", gateway.DefaultMaxConnectionsPerIP, "client connections per address at most, an IPv6 client counted by its /64 (0: no limit); past it: 503")
	s.Float(&l.handshakeRatePerIP, "handshake-rate-per-ip", gateway.DefaultHandshakeRatePerIP, "handshakes per second one address may start (0: no limit); over: 429")
	s.Int(&l.handshakeBurstPerIP, "handshake-burst-per-ip", 0, "burst allowed above --handshake-rate-per-ip (0: one second's worth, at least 1)")
	s.Bool(&l.proxyProtocol, "proxy-protocol", false, "every client connection starts with a PROXY protocol header (v1 or v2) naming the real client; without one it is closed")
	s.List(&l.trustedProxies, "trusted-proxies", nil, "comma-separated CIDRs of proxies whose X-Forwarded-For (and, with --proxy-protocol, PROXY header) is believed (empty: none; PROXY header from any peer)")
}

func (l *gatewayLimits) apply(c *gateway.Config) error {
	trusted, err := clientaddr.ParseTrusted(l.trustedProxies)
	if err != nil {
		return fmt.Errorf("--trusted-proxies: %w", err)
	}
	c.TrustedProxies = trusted
	c.Subprotocols = l.subprotocols
	c.MaxHandshakes = l.maxHandshakes
	c.MaxConnectionsPerIP = l.maxConnectionsPerIP
	c.HandshakeRatePerIP = l.handshakeRatePerIP
	c.HandshakeBurstPerIP = l.handshakeBurstPerIP
	c.ProxyProtocol = l.proxyProtocol
	c.HandshakeTimeout = l.handshakeTimeout
	c.MaxMessageSize = l.maxMessageSize
	c.MaxFrameSize = l.maxFrameSize
	c.FrameTimeout = l.frameTimeout
	c.MaxConnections = l.maxConnections
	c.AllowedOrigins = l.allowedOrigins
	c.MaxPending = int(l.maxPending)
	l.compression.apply(c)
	c.WriteTimeout = l.writeTimeout
	c.PingInterval = l.pingInterval
	c.PingMaxMissed = l.pingMaxMissed
	c.MessageRate = l.messageRate
	c.MessageBurst = l.messageBurst
	c.DrainTimeout = l.drainTimeout
	c.NoWorkerTimeout = l.noWorkerTimeout
	c.LinkWindow = l.linkWindow
	c.LinkWindowBytes = int(l.linkWindowBytes)
	c.ClientWindow = l.clientWindow
	c.AdvertisePublic = l.advertisePublic
	c.AdvertiseLAN = l.advertiseLAN
	return nil
}

func runGateway(ctx context.Context, e env, args []string) error {
	var o gatewayOptions
	s := cli.New("gateway", "Run a gateway: it holds client WebSocket connections and links to workers.", e.stderr, e.getenv)
	s.String(&o.listen, "listen", "127.0.0.1:7272", "WebSocket address for clients")
	s.String(&o.lan, "lan", "127.0.0.1:2900", "internal gRPC address workers link to")
	s.List(&o.registers, "register", []string{"127.0.0.1:1236"}, "comma-separated register addresses")
	s.String(&o.name, "name", "", "gateway name in logs and stats (default: host name)")
	s.String(&o.secret, "secret", "", "cluster secret required on every internal call (empty: none; loopback only)")
	s.String(&o.admin, "admin", "", "address for /metrics, /healthz, /readyz and pprof (empty: off)")
	o.lanTLS.define(s, "lan-tls-", true)
	o.tls.define(s)
	o.auth.define(s)
	o.limits.define(s)
	o.gwLAN.define(s)
	o.log.Define(s)
	if err := parse(s, args); err != nil {
		return err
	}
	log, err := o.log.Logger(e.stderr)
	if err != nil {
		return usageError{err}
	}
	lanTLS, err := o.lanTLS.load(log)
	if err != nil {
		return usageError{fmt.Errorf("gateway: %w", err)}
	}
	cfg := gateway.Config{Name: o.name, Secret: o.secret, Registers: o.registers, Logger: log,
		TLS: lanTLS.Config()}
	if err := o.limits.apply(&cfg); err != nil {
		return usageError{err}
	}
	if cfg.OnHandshake, err = o.auth.hook(); err != nil {
		return usageError{err}
	}
	registry, err := metrics.NewRegistry()
	if err != nil {
		return err
	}
	cfg.Metrics = registry
	if err := o.gwLAN.apply(&cfg); err != nil {
		return err
	}
	gw, err := gateway.New(cfg)
	if err != nil {
		return usageError{err}
	}
	public, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("gateway: --listen: %w", err)
	}
	lan, err := net.Listen("tcp", o.lan)
	if err != nil {
		public.Close()
		return fmt.Errorf("gateway: --lan: %w", err)
	}
	clients, reload, err := o.tls.wrap(public, log)
	if err != nil {
		public.Close()
		lan.Close()
		return usageError{fmt.Errorf("gateway: %w", err)}
	}
	log.Info("gateway listening", "ws", public.Addr().String(), "lan", lan.Addr().String(), "tls", o.tls.cert != "", "token_auth", o.auth.secret != "")
	return runAll(ctx, log,
		task{"gateway", func(ctx context.Context) error { return gw.Serve(ctx, clients, lan) }},
		reload,
		adminTask(o.admin, registry, gw.Ready),
	)
}
