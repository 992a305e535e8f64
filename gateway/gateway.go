package gateway

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/keepalive"

	"github.com/gatewayworker/gatewayworker/internal/auth"
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/discovery"
	"github.com/gatewayworker/gatewayworker/internal/gopool"
	"github.com/gatewayworker/gatewayworker/internal/netpoll"
	"github.com/gatewayworker/gatewayworker/internal/tlsconf"
	"github.com/gatewayworker/gatewayworker/internal/wsconn"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Internal tuning that is not worth a Config field.
const (
	// readBufferSize is the size of the pooled read buffers.
	readBufferSize = 4 << 10
	// closeLinger is how long the gateway waits for a client's close frame
	// after sending its own before it closes the socket.
	closeLinger = 2 * time.Second
	// grpcStopTimeout bounds the graceful stop of the gRPC server once
	// every link was told to end.
	grpcStopTimeout = 2 * time.Second
	// maxHeartbeatTick bounds the heartbeat scan period.
	maxHeartbeatTick = time.Second
)

// Gateway holds client WebSocket connections and serves the internal Link
// service to workers and push clients. Create it with New and run it with
// Serve; its methods are safe for concurrent use. The zero Gateway is not
// usable but does not panic: Serve returns ErrInvalidConfig, Ready an
// error, Stats zeros and NodeID "".
type Gateway struct {
	cfg     Config
	log     *slog.Logger
	nodeID  uint64
	started time.Time

	seq     atomic.Uint64 // last connection sequence issued
	nconns  atomic.Int64  // connections admitted past their handshake's checks (MaxConnections)
	edge    edgeState     // per-address limits and real client addresses (limits.go)
	hub     hub
	wr      writers // socket writer shards (writer.go)
	router  router
	stats   counters
	metrics gatewayMetrics // Prometheus counters (metrics.go)
	ping    []byte         // the shared ping frame of the heartbeat
	readers sync.Pool

	// compressor compresses messages for clients that negotiated
	// permessage-deflate (commands.go); nil with DisableCompression.
	compressor *wsconn.Compressor

	announcer atomic.Pointer[discovery.Announcer] // nil without registers
	serving   atomic.Bool
	draining  atomic.Bool
	quit      chan struct{} // closed when links must end (shutdown)

	// Set by Serve before any connection exists.
	poller *netpoll.Poller
	pool   *gopool.Pool

	connWG sync.WaitGroup // handshakes, flushers
	linkWG sync.WaitGroup // link receive goroutines

	hsMu        sync.Mutex
	handshaking map[net.Conn]struct{} // aborted on shutdown
	drained     chan struct{}         // signalled when the last client is gone while draining
}

// New validates cfg and returns a Gateway with a fresh random node id. It
// starts nothing; Serve does.
func New(cfg Config) (*Gateway, error) {
	c, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	node, err := randomNodeID()
	if err != nil {
		return nil, err
	}
	g := &Gateway{
		cfg:         c,
		log:         c.Logger.With("gateway", clientid.FormatNode(node)),
		nodeID:      node,
		started:     time.Now(),
		ping:        wsconn.AppendPing(nil, nil),
		quit:        make(chan struct{}),
		handshaking: make(map[net.Conn]struct{}),
		drained:     make(chan struct{}, 1),
	}
	if !c.DisableCompression {
		if g.compressor, err = wsconn.NewCompressor(0); err != nil {
			return nil, err
		}
	}
	g.hub.init()
	g.wr.init(g)
	g.router.init(g)
	g.readers.New = func() any { return &readBuf{br: bufio.NewReaderSize(nil, readBufferSize)} }
	if err := g.initEdge(); err != nil {
		return nil, err
	}
	if err := g.initMetrics(); err != nil {
		return nil, err
	}
	return g, nil
}

func randomNodeID() (uint64, error) {
	var b [8]byte
	for {
		if _, err := rand.Read(b[:]); err != nil {
			return 0, fmt.Errorf("gateway: node id: %w", err)
		}
		if id := binary.BigEndian.Uint64(b[:]); id != 0 {
			return id, nil
		}
	}
}

// NodeID returns the gateway's random node id, 16 hex characters: the
// first half of every client id it issues (as businessworker's
// Client.Gateway, GatewayStats.Node and GatewayError.Node).
func (g *Gateway) NodeID() string {
	if g.nodeID == 0 {
		return ""
	}
	return clientid.FormatNode(g.nodeID)
}

// Serve serves WebSocket clients on public and the internal gRPC Gateway
// service on lan, and announces the gateway to the registers (if any),
// until ctx is done. Then it drains: it stops accepting, leaves the
// registers, flushes client queues and closes clients with 1001 Going Away
// within DrainTimeout, ends the links and stops gRPC. Serve closes both
// listeners. It returns nil after a drain caused by ctx, or the error of a
// listener that failed (after draining too). Serve may be called once.
func (g *Gateway) Serve(ctx context.Context, public, lan net.Listener) error {
	if g.nodeID == 0 { // not made by New
		return fmt.Errorf("%w: Gateway not made by New", ErrInvalidConfig)
	}
	if public == nil || lan == nil {
		return fmt.Errorf("%w: nil listener", ErrInvalidConfig)
	}
	if !g.serving.CompareAndSwap(false, true) {
		return ErrServing
	}
	poller, err := netpoll.New(g.log)
	if err != nil {
		_ = public.Close()
		_ = lan.Close()
		return fmt.Errorf("gateway: %w", err)
	}
	g.poller = poller
	g.pool = gopool.NewPool(0, 0)
	info := g.info(public, lan)
	compat, err := g.startCompat(info) // nil when off (compat_gatewayworker.go)
	if err != nil {
		_ = public.Close()
		_ = lan.Close()
		_ = g.poller.Close()
		g.pool.Close()
		return err
	}

	srv := grpc.NewServer(g.serverOptions()...)
	pb.RegisterGatewayServer(srv, &linkService{g: g, info: info})

	var wg sync.WaitGroup
	failed := make(chan error, 2)
	wg.Go(func() {
		if err := srv.Serve(lan); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			failed <- fmt.Errorf("gateway: serve lan: %w", err)
		}
	})
	wg.Go(func() {
		if err := g.acceptLoop(public); err != nil {
			failed <- err
		}
	})
	hbStop := make(chan struct{})
	wg.Go(func() { g.heartbeat(hbStop) })

	annCtx, annCancel := context.WithCancel(context.Background())
	defer annCancel()
	annDone := make(chan struct{})
	if len(g.cfg.Registers) == 0 {
		close(annDone)
	} else {
		ann, err := discovery.NewAnnouncer(discovery.AnnouncerConfig{
			Registers:   g.cfg.Registers,
			Gateway:     info,
			Secret:      g.cfg.Secret,
			DialOptions: g.dialOptions(),
			Logger:      g.log,
		})
		if err != nil {
			close(annDone)
			failed <- fmt.Errorf("gateway: announcer: %w", err)
		} else {
			g.announcer.Store(ann)
			go func() {
				defer close(annDone)
				_ = ann.Run(annCtx)
			}()
		}
	}
	g.log.Info("gateway serving", "public", public.Addr().String(), "lan", lan.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-failed:
		g.log.Error("gateway failed, draining", "err", serveErr)
	}

	// Stop accepting, leave the registers.
	g.draining.Store(true)
	g.log.Info("gateway draining: closing clients with 1001", "clients", g.hub.count(), "drain_timeout", g.cfg.DrainTimeout)
	_ = public.Close()
	g.abortHandshakes()
	annCancel()
	<-annDone
	// Close the clients, then end the links (their Close events go out
	// first), then stop gRPC.
	g.drain()
	close(hbStop)
	close(g.quit)
	compat.stop()
	stopped := make(chan struct{})
	go func() { srv.GracefulStop(); close(stopped) }()
	select {
	case <-stopped:
	case <-time.After(grpcStopTimeout):
		srv.Stop()
		<-stopped
	}
	wg.Wait()
	g.linkWG.Wait()
	_ = g.poller.Close()
	g.pool.Close()
	g.connWG.Wait()
	g.log.Info("gateway stopped")
	return serveErr
}

// dialOptions are the options of the gateway's calls to the registers.
func (g *Gateway) dialOptions() []grpc.DialOption {
	if g.cfg.TLS == nil {
		return nil
	}
	return []grpc.DialOption{tlsconf.DialOption(g.cfg.TLS)}
}

func (g *Gateway) serverOptions() []grpc.ServerOption {
	opts := auth.ServerOptions(g.cfg.Secret, func(ctx context.Context, method string) {
		g.stats.linkRejected.Add(1)
		g.log.Warn("link refused: missing or wrong cluster secret", "method", method)
	})
	opts = append(opts,
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{MinTime: 5 * time.Second, PermitWithoutStream: true}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.MaxRecvMsgSize(discovery.MaxMessageSize),
		grpc.MaxSendMsgSize(discovery.MaxMessageSize),
	)
	opts = append(opts, g.metrics.grpc.ServerOptions()...)
	if g.cfg.TLS != nil {
		opts = append(opts, tlsconf.ServerOption(g.cfg.TLS, g.log))
	}
	return opts
}

func (g *Gateway) info(public, lan net.Listener) *pb.GatewayInfo {
	lanAddr, pubAddr := g.cfg.AdvertiseLAN, g.cfg.AdvertisePublic
	if lanAddr == "" {
		lanAddr = lan.Addr().String()
	}
	if pubAddr == "" {
		pubAddr = public.Addr().String()
	}
	return &pb.GatewayInfo{
		NodeId:        g.nodeID,
		LanAddr:       lanAddr,
		PublicAddr:    pubAddr,
		Name:          g.cfg.Name,
		StartedUnixMs: g.started.UnixMilli(),
	}
}

// drain closes every client with 1001 after its queue is flushed and waits
// for them within DrainTimeout; the rest are closed at once.
func (g *Gateway) drain() {
	for _, c := range g.hub.snapshot() {
		c.close(wsconn.CloseGoingAway, "going away", closeDrain)
	}
	timer := time.NewTimer(g.cfg.DrainTimeout)
	defer timer.Stop()
	for g.hub.count() > 0 {
		select {
		case <-g.drained:
		case <-timer.C:
			n := g.hub.count()
			g.log.Warn("drain timeout: closing remaining clients", "clients", n)
			for _, c := range g.hub.snapshot() {
				c.finish(wsconn.CloseGoingAway, "going away")
			}
			return
		}
	}
}

// clientGone is called when a client left the hub.
func (g *Gateway) clientGone() {
	if g.draining.Load() && g.hub.count() == 0 {
		select {
		case g.drained <- struct{}{}:
		default:
		}
	}
}
