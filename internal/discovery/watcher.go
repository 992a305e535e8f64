package discovery

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// WatcherConfig configures a Watcher.
type WatcherConfig struct {
	Registers   []string          // gRPC addresses of registers (required, at least one)
	Secret      string            // cluster secret ("" sends none)
	DialOptions []grpc.DialOption // extra dial options, e.g. TLS credentials; default plaintext
	MinBackoff  time.Duration     // 0: DefaultMinBackoff
	MaxBackoff  time.Duration     // 0: DefaultMaxBackoff
	Logger      *slog.Logger      // nil: discard
}

// Watcher follows the set of live gateways known to the register cluster.
type Watcher struct {
	cfg     WatcherConfig
	log     *slog.Logger
	running atomic.Bool
}

// NewWatcher validates cfg, fills its defaults and returns a Watcher.
func NewWatcher(cfg WatcherConfig) (*Watcher, error) {
	if len(cfg.Registers) == 0 {
		return nil, ErrNoRegisters
	}
	var ok bool
	if cfg.MinBackoff, cfg.MaxBackoff, ok = validBackoff(cfg.MinBackoff, cfg.MaxBackoff); !ok {
		return nil, fmt.Errorf("%w: backoff %v..%v", ErrInvalidConfig, cfg.MinBackoff, cfg.MaxBackoff)
	}
	cfg.Registers = slices.Clone(cfg.Registers)
	cfg.DialOptions = slices.Clone(cfg.DialOptions)
	return &Watcher{cfg: cfg, log: discardIfNil(cfg.Logger)}, nil
}

// Run watches the set of live gateways until ctx is done, then returns nil.
//
// onChange receives the full current set, sorted by node id, in a fresh slice
// of copies the callee may keep. It is called from Run's goroutine only (never
// concurrently), after every snapshot (the first one and the one of each
// register failed over to) and after every change. When a register's stream
// breaks Run fails over to another one with backoff; while no register
// answers, the last set stands (no empty set is reported). onChange should
// return quickly: while it runs, changes queue up in the register.
// Run returns ErrRunning if the Watcher is already running.
func (w *Watcher) Run(ctx context.Context, onChange func(gateways []*pb.GatewayInfo)) error {
	if !w.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer w.running.Store(false)
	bo := &Backoff{Min: w.cfg.MinBackoff, Max: w.cfg.MaxBackoff}
	runRounds(ctx, w.cfg.Registers, bo, w.log, func(ctx context.Context, addr string) (bool, error) {
		return w.session(ctx, addr, onChange)
	})
	return nil
}

// session follows the register at addr until its stream fails or ctx is done.
func (w *Watcher) session(ctx context.Context, addr string, onChange func([]*pb.GatewayInfo)) (bool, error) {
	dctx, cancel := context.WithTimeout(ctx, DefaultDialTimeout)
	conn, err := Dial(dctx, addr, w.cfg.Secret, w.cfg.DialOptions...)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close()

	sctx, scancel := context.WithCancel(ctx)
	defer scancel()
	stream, err := pb.NewRegisterClient(conn).Watch(sctx, &pb.WatchRequest{})
	if err != nil {
		return false, fmt.Errorf("watch %s: %w", addr, err)
	}
	// A register that accepts the stream but sends no snapshot is given up.
	noSnapshot := time.AfterFunc(DefaultDialTimeout, scancel)
	first, err := stream.Recv()
	if !noSnapshot.Stop() && err != nil && ctx.Err() == nil {
		err = errNoAnswer
	}
	if err != nil {
		return false, fmt.Errorf("watch %s: %w", addr, err)
	}
	if first.GetKind() != pb.WatchResponse_KIND_SNAPSHOT {
		return false, fmt.Errorf("watch %s: %w: %v first", addr, errProtocol, first.GetKind())
	}
	set := make(map[uint64]*pb.GatewayInfo, len(first.GetGateways()))
	for _, g := range first.GetGateways() {
		set[g.GetNodeId()] = g
	}
	w.log.Info("watching", "register", addr, "gateways", len(set))
	onChange(sorted(set))
	for {
		r, err := stream.Recv()
		if err != nil {
			return true, fmt.Errorf("watch %s: %w", addr, err)
		}
		if apply(set, r) {
			onChange(sorted(set))
		}
	}
}

// apply applies one change to set and reports whether set changed.
func apply(set map[uint64]*pb.GatewayInfo, r *pb.WatchResponse) bool {
	changed := false
	switch r.GetKind() {
	case pb.WatchResponse_KIND_SNAPSHOT:
		clear(set)
		for _, g := range r.GetGateways() {
			set[g.GetNodeId()] = g
		}
		return true
	case pb.WatchResponse_KIND_ADDED:
		for _, g := range r.GetGateways() {
			if old, ok := set[g.GetNodeId()]; !ok || !proto.Equal(old, g) {
				set[g.GetNodeId()] = g
				changed = true
			}
		}
	case pb.WatchResponse_KIND_REMOVED:
		for _, g := range r.GetGateways() {
			if _, ok := set[g.GetNodeId()]; ok {
				delete(set, g.GetNodeId())
				changed = true
			}
		}
	}
	return changed
}

// sorted returns copies of set's gateways sorted by node id.
func sorted(set map[uint64]*pb.GatewayInfo) []*pb.GatewayInfo {
	out := make([]*pb.GatewayInfo, 0, len(set))
	for _, g := range set {
		out = append(out, proto.CloneOf(g))
	}
	slices.SortFunc(out, func(a, b *pb.GatewayInfo) int { return cmp.Compare(a.GetNodeId(), b.GetNodeId()) })
	return out
}
