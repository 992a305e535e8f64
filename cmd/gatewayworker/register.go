package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/cli"
	"github.com/gatewayworker/gatewayworker/internal/metrics"
	"github.com/gatewayworker/gatewayworker/internal/tlsconf"
	"github.com/gatewayworker/gatewayworker/register"
)

type registerOptions struct {
	listen       string
	gossip       string
	join         []string
	joinTimeout  time.Duration
	clusterSize  int
	maxLeaderTTL time.Duration
	name         string
	secret       string
	admin        string
	gwLis        string // --gatewayworker-listen
	tls          internalTLS
	log          cli.Logging
}

func runRegister(ctx context.Context, e env, args []string) error {
	var o registerOptions
	s := cli.New("register", "Run a register: gateways announce themselves to it; workers and push clients watch it.", e.stderr, e.getenv)
	s.String(&o.listen, "listen", "127.0.0.1:1236", "gRPC address of the register")
	s.String(&o.gossip, "gossip", register.DefaultBindAddr, "gossip address (TCP and UDP) shared with the other registers; set to \"\" for no gossip at all (this register alone). When the default address is taken and --join is empty, the register runs alone")
	s.List(&o.join, "join", nil, "comma-separated gossip addresses of the other registers, retried every 100 ms doubling to 1 s until one answers or --join-timeout passes (empty: start a new cluster that others join)")
	s.Duration(&o.joinTimeout, "join-timeout", register.DefaultJoinTimeout, "how long --join is retried with the short backoff before this register runs alone (then every 10 s); /readyz fails until it has joined")
	s.Int(&o.clusterSize, "cluster-size", 0, "number of registers in the cluster, for the leader lease majority: set the same value on every register (0: 1 + the --join addresses, or the most registers seen at once, whichever is larger)")
	s.Duration(&o.maxLeaderTTL, "max-leader-ttl", register.DefaultMaxLeaderTTL, "cap of the leader lease TTL granted to workers; the register grants no leader lease during this long after it starts")
	s.String(&o.name, "name", "", "register name in logs and in the cluster, unique per register (default: host name)")
	s.String(&o.secret, "secret", "", "cluster secret required on every internal call and encrypting gossip (empty: none; loopback only)")
	s.String(&o.admin, "admin", "", "address for /metrics, /healthz, /readyz and pprof (empty: off)")
	s.String(&o.gwLis, "gatewayworker-listen", "", "also answer GatewayWorker 4.x's BusinessWorker and GatewayClient (text protocol, secret_key = --secret) on this address, listing the gateways' --gatewayworker-lan addresses (empty: off)")
	o.tls.define(s, "tls-", false)
	o.log.Define(s)
	if err := parse(s, args); err != nil {
		return err
	}
	log, err := o.log.Logger(e.stderr)
	if err != nil {
		return usageError{err}
	}
	if len(o.join) > 0 && o.gossip == "" {
		return usageError{errors.New("register: --join needs --gossip")}
	}
	tl, err := o.tls.load(log)
	if err != nil {
		return usageError{fmt.Errorf("register: %w", err)}
	}
	lis, err := net.Listen("tcp", o.listen)
	if err != nil {
		return fmt.Errorf("register: --listen: %w", err)
	}
	if o.clusterSize < 0 || o.joinTimeout < 0 || o.maxLeaderTTL < register.MinTTL {
		lis.Close()
		return usageError{errors.New("register: --cluster-size and --join-timeout must not be negative, --max-leader-ttl at least 100ms")}
	}
	cfg := register.Config{
		Name:         o.name,
		Secret:       o.secret,
		Logger:       log,
		TLS:          tl.Config(),
		ClusterSize:  o.clusterSize,
		MaxLeaderTTL: o.maxLeaderTTL,
	}
	if o.gossip != "" {
		store, err := register.NewClusterStore(register.ClusterConfig{
			Name:        o.name, // empty: host name and gossip address
			BindAddr:    o.gossip,
			Join:        o.join,
			JoinTimeout: o.joinTimeout,
			SecretKey:   gossipKey(o.secret),
			Logger:      log,
		})
		switch {
		case err == nil:
			defer store.Close() // after Serve: leave the cluster
			cfg.Store = store
			log.Info("register gossiping", "gossip", store.Addr(), "join", o.join)
		case o.gossip == register.DefaultBindAddr && len(o.join) == 0:
			// Nothing asked for a cluster: a busy default port (another
			// register on this host) leaves this one alone, not down.
			log.Warn("default gossip address unavailable, running alone", "gossip", o.gossip, "err", err)
		default:
			lis.Close()
			return fmt.Errorf("register: --gossip: %w", err)
		}
	}
	registry, err := metrics.NewRegistry()
	if err != nil {
		lis.Close()
		return err
	}
	cfg.Metrics = registry
	reg, err := register.New(cfg)
	if err != nil {
		lis.Close()
		return usageError{err}
	}
	log.Info("register listening", "addr", lis.Addr().String(), "mtls", tl != nil)
	gwTask, err := gatewayWorkerRegisterTask(reg, o.gwLis, o.secret)
	if err != nil {
		lis.Close()
		return err
	}
	return runAll(ctx, log,
		task{"register", func(ctx context.Context) error { return reg.Serve(ctx, lis) }},
		adminTask(o.admin, registry, reg.Ready),
		gwTask,
	)
}

// gossipKey is the memberlist keyring key of a cluster secret (none without).
func gossipKey(secret string) []byte {
	if secret == "" {
		return nil
	}
	return register.KeyFromSecret(secret)
}

// internalTLS holds the mTLS options of the internal gRPC links.
type internalTLS struct {
	cert, key, ca, serverName string
}

// define adds the options under prefix: "tls-" on the register, "lan-tls-"
// on the gateway (whose --tls-* secure the clients' side); dials adds the
// server name checked when dialling registers.
func (t *internalTLS) define(s *cli.Set, prefix string, dials bool) {
	s.String(&t.cert, prefix+"cert", "", "PEM certificate of this node for the internal gRPC links (mTLS; with --"+prefix+"key and --"+prefix+"ca)")
	s.String(&t.key, prefix+"key", "", "PEM private key of --"+prefix+"cert")
	s.String(&t.ca, prefix+"ca", "", "PEM CA certificates that every peer's certificate must chain to")
	if dials {
		s.String(&t.serverName, prefix+"server-name", "", "name checked in the certificates of the registers this node dials (default: the dialled host)")
	}
}

// load returns the loaded identity, or nil when no option is set.
func (t *internalTLS) load(log *slog.Logger) (*tlsconf.TLS, error) {
	return tlsconf.New(tlsconf.Config{CertFile: t.cert, KeyFile: t.key, CAFile: t.ca, ServerName: t.serverName, Logger: log})
}
