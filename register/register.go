package register

import (
	"context"
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
	"github.com/gatewayworker/gatewayworker/internal/tlsconf"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// maxMessageSize bounds gRPC messages both ways (16 MiB, as internal/discovery).
const maxMessageSize = 16 << 20

// Register serves the Register gRPC service: gateways' leases and watchers.
// Make one with New. The zero Register is not usable but does not panic:
// Serve and ServeGatewayWorker return ErrInvalidConfig, Ready an error and
// Gateways nil.
type Register struct {
	cfg      Config
	store    Store
	ownStore bool
	log      *slog.Logger

	served   atomic.Bool
	stopping chan struct{} // closed when Serve's ctx is done
	wg       sync.WaitGroup

	mu        sync.Mutex
	owners    map[uint64]uint64 // node id -> token of the stream that announced it last here
	lastToken uint64

	leaders *leaderLeases // leader-lease grants (leader.go)

	metrics registerMetrics // Prometheus counters (metrics.go)
}

// New validates cfg, fills its defaults and returns a Register.
func New(cfg Config) (*Register, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	r := &Register{
		cfg:      cfg,
		store:    cfg.Store,
		log:      cfg.Logger.With("register", cfg.Name),
		stopping: make(chan struct{}),
		owners:   make(map[uint64]uint64),
		leaders:  newLeaderLeases(cfg.MaxLeaderTTL, time.Now()),
	}
	if err := r.initMetrics(); err != nil {
		return nil, err
	}
	if r.store == nil {
		r.store = NewMemoryStore()
		r.ownStore = true
	}
	return r, nil
}

// Serve serves the Register gRPC service on lis until ctx is done, then stops
// gracefully: open streams are ended (leases stay for their TTL), and after
// Config.ShutdownTimeout the remaining connections are cut. It then closes
// lis and, when the Register created its own store, the store. Serve returns
// nil after ctx is done, an error if lis fails, and ErrServed on a second call.
func (r *Register) Serve(ctx context.Context, lis net.Listener) error {
	if r.store == nil {
		return fmt.Errorf("%w: Register not made by New", ErrInvalidConfig)
	}
	if !r.served.CompareAndSwap(false, true) {
		return ErrServed
	}
	opts := append(auth.ServerOptions(r.cfg.Secret, r.onReject),
		grpc.KeepaliveEnforcementPolicy(keepalive.EnforcementPolicy{
			MinTime:             4 * time.Second, // clients ping every 5-10 s
			PermitWithoutStream: true,
		}),
		grpc.KeepaliveParams(keepalive.ServerParameters{Time: 10 * time.Second, Timeout: 5 * time.Second}),
		grpc.MaxRecvMsgSize(maxMessageSize),
		grpc.MaxSendMsgSize(maxMessageSize),
		// Stop and GracefulStop return only once every handler has, so
		// that r.wg.Wait below sees every goroutine the handlers started.
		grpc.WaitForHandlers(true),
	)
	opts = append(opts, r.metrics.grpc.ServerOptions()...)
	if r.cfg.TLS != nil {
		opts = append(opts, tlsconf.ServerOption(r.cfg.TLS, r.log))
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterRegisterServer(srv, &service{r: r})

	served := make(chan error, 1)
	r.wg.Go(func() { served <- srv.Serve(lis) })
	r.log.Info("serving", "addr", lis.Addr().String())

	var serveErr error
	select {
	case <-ctx.Done():
	case serveErr = <-served:
	}
	close(r.stopping)
	stopped := make(chan struct{})
	r.wg.Go(func() {
		srv.GracefulStop()
		close(stopped)
	})
	t := time.NewTimer(r.cfg.ShutdownTimeout)
	select {
	case <-stopped:
	case <-t.C:
		r.log.Warn("graceful stop timed out, cutting connections")
		srv.Stop()
	}
	t.Stop()
	r.wg.Wait()
	if r.ownStore {
		_ = r.store.Close()
	}
	r.log.Info("stopped")
	if serveErr != nil && !errors.Is(serveErr, grpc.ErrServerStopped) {
		return fmt.Errorf("register: serve: %w", serveErr)
	}
	return nil
}

// Gateways returns the current set of live gateways sorted by node id (for
// tests, stats and admin endpoints); nil once the store is closed.
func (r *Register) Gateways() []*pb.GatewayInfo {
	if r.store == nil {
		return nil
	}
	sub, err := r.store.Watch(1)
	if err != nil {
		return nil
	}
	sub.Stop()
	out := make([]*pb.GatewayInfo, len(sub.Snapshot))
	for i, g := range sub.Snapshot {
		out[i] = cloneInfo(g)
	}
	return out
}

func (r *Register) onReject(ctx context.Context, method string) {
	r.metrics.rejected.Add(1)
	r.log.Warn("call refused: missing or wrong cluster secret", "method", method, "peer", peerAddr(ctx))
}

// ttl returns the lease TTL granted for a request of ms milliseconds.
func (r *Register) ttl(ms uint32) time.Duration {
	if ms == 0 {
		return r.cfg.DefaultTTL
	}
	return min(max(time.Duration(ms)*time.Millisecond, MinTTL), r.cfg.MaxTTL)
}

// keepalive returns the keepalive interval told to a gateway with lease ttl:
// at least three keepalives fit in a TTL.
func (r *Register) keepalive(ttl time.Duration) time.Duration {
	return min(r.cfg.KeepaliveInterval, ttl/3)
}

// endingStore is implemented by stores that can restart the TTL of a lease
// without taking it over from another register (ClusterStore).
type endingStore interface {
	endLease(gw *pb.GatewayInfo, ttl time.Duration) error
}

// endLease restarts the TTL of gw's lease when its stream broke without leave.
func (r *Register) endLease(gw *pb.GatewayInfo, ttl time.Duration) error {
	if es, ok := r.store.(endingStore); ok {
		return es.endLease(gw, ttl)
	}
	return r.store.Put(gw, ttl)
}

// claim records that the stream token announced nodeID last.
func (r *Register) claim(nodeID uint64) (token uint64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lastToken++
	r.owners[nodeID] = r.lastToken
	return r.lastToken
}

// owns reports whether token still announced nodeID last.
func (r *Register) owns(nodeID, token uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.owners[nodeID] == token
}

// release forgets token's claim on nodeID; it reports whether it held it.
func (r *Register) release(nodeID, token uint64) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.owners[nodeID] != token {
		return false
	}
	delete(r.owners, nodeID)
	return true
}
