package discovery

import (
	"cmp"
	"context"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
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
	// Grace is how long a gateway stays in the set when the snapshot of a
	// register failed over to lacks it: the time its announcer has to
	// re-announce to a register that restarted empty. 0: DefaultGrace;
	// negative: none (the snapshot is taken as is).
	Grace  time.Duration
	Logger *slog.Logger // nil: discard
}

// DefaultGrace is the WatcherConfig.Grace of a zero config: a lease TTL.
const DefaultGrace = DefaultTTL

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
	if cfg.Grace == 0 {
		cfg.Grace = DefaultGrace
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
// answers, the last set stands (no empty set is reported). A gateway missing
// from the snapshot of a register failed over to stays in the set for
// Config.Grace, unless that register adds it (it re-announced) or removes it
// meanwhile. onChange should return quickly: while it runs, changes queue up
// in the register. Run returns ErrRunning if the Watcher is already running.
func (w *Watcher) Run(ctx context.Context, onChange func(gateways []*pb.GatewayInfo)) error {
	if !w.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer w.running.Store(false)
	bo := &Backoff{Min: w.cfg.MinBackoff, Max: w.cfg.MaxBackoff}
	v := &view{grace: w.cfg.Grace, held: map[uint64]held{}, onChange: onChange}
	runRounds(ctx, w.cfg.Registers, bo, w.log, func(ctx context.Context, addr string) (bool, error) {
		return w.session(ctx, addr, v)
	})
	return nil
}

// session follows the register at addr until its stream fails or ctx is done.
func (w *Watcher) session(ctx context.Context, addr string, v *view) (bool, error) {
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
	set, n := v.begin(first, time.Now())
	w.log.Info("watching", "register", addr, "gateways", len(set))
	if n > 0 {
		w.log.Info("gateways missing from the register's snapshot kept for the grace period",
			"register", addr, "missing", n, "grace", v.grace)
	}

	type received struct {
		r   *pb.WatchResponse
		err error
	}
	in := make(chan received)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer scancel() // before wg.Wait: ends the receiver's Recv
	wg.Go(func() {
		for {
			r, err := stream.Recv()
			select {
			case in <- received{r, err}:
			case <-sctx.Done():
				return
			}
			if err != nil {
				return
			}
		}
	})
	expiry := time.NewTimer(0)
	defer expiry.Stop()
	for {
		expiry.Stop()
		var expired <-chan time.Time
		if next, ok := v.nextExpiry(); ok {
			expiry.Reset(time.Until(next))
			expired = expiry.C
		}
		select {
		case x := <-in:
			if x.err != nil {
				return true, fmt.Errorf("watch %s: %w", addr, x.err)
			}
			v.update(set, x.r, time.Now())
		case now := <-expired:
			if v.expire(now) {
				v.report(set)
			}
		case <-sctx.Done():
			return true, fmt.Errorf("watch %s: %w", addr, sctx.Err())
		}
	}
}

// view is what a Watcher reports across its sessions: the set of the current
// register plus the gateways held for their grace period.
type view struct {
	grace    time.Duration
	last     map[uint64]*pb.GatewayInfo // last reported
	held     map[uint64]held
	onChange func([]*pb.GatewayInfo)
}

// held is a gateway missing from a register's snapshot, kept until.
type held struct {
	info  *pb.GatewayInfo
	until time.Time
}

// hold starts the grace period of the gateways reported before but missing
// from set (a snapshot); it returns how many are held.
func (v *view) hold(set map[uint64]*pb.GatewayInfo, now time.Time) int {
	for id := range v.held {
		if _, ok := set[id]; ok {
			delete(v.held, id)
		}
	}
	if v.grace > 0 {
		for id, g := range v.last {
			if _, ok := set[id]; ok {
				continue
			}
			if _, ok := v.held[id]; !ok {
				v.held[id] = held{info: g, until: now.Add(v.grace)}
			}
		}
	}
	return len(v.held)
}

// settle applies one register message to the held gateways: a snapshot
// holds anew, an added or removed gateway is no longer held, a message of an
// unknown kind is ignored (as apply does). It reports whether the reported
// set changed.
func (v *view) settle(set map[uint64]*pb.GatewayInfo, r *pb.WatchResponse, now time.Time) bool {
	switch r.GetKind() {
	case pb.WatchResponse_KIND_SNAPSHOT:
		before := len(v.held)
		return v.hold(set, now) != before
	case pb.WatchResponse_KIND_ADDED, pb.WatchResponse_KIND_REMOVED:
	default:
		return false
	}
	changed := false
	for _, g := range r.GetGateways() {
		if _, ok := v.held[g.GetNodeId()]; ok {
			delete(v.held, g.GetNodeId())
			changed = changed || r.GetKind() == pb.WatchResponse_KIND_REMOVED
		}
	}
	return changed
}

// begin starts a session on the register's first message, a snapshot: it
// returns the session's set and how many gateways are held, and reports.
func (v *view) begin(first *pb.WatchResponse, now time.Time) (set map[uint64]*pb.GatewayInfo, heldN int) {
	set = make(map[uint64]*pb.GatewayInfo, len(first.GetGateways()))
	for _, g := range first.GetGateways() {
		set[g.GetNodeId()] = g
	}
	heldN = v.hold(set, now)
	v.report(set)
	return set, heldN
}

// update applies one register message after the snapshot to set and the
// held gateways, and reports the set if it changed.
func (v *view) update(set map[uint64]*pb.GatewayInfo, r *pb.WatchResponse, now time.Time) {
	changed := apply(set, r)
	if v.settle(set, r, now) || changed {
		v.report(set)
	}
}

// nextExpiry returns the earliest end of a grace period.
func (v *view) nextExpiry() (time.Time, bool) {
	var next time.Time
	for _, h := range v.held {
		if next.IsZero() || h.until.Before(next) {
			next = h.until
		}
	}
	return next, !next.IsZero()
}

// expire drops the held gateways whose grace ended by now.
func (v *view) expire(now time.Time) bool {
	changed := false
	for id, h := range v.held {
		if !h.until.After(now) {
			delete(v.held, id)
			changed = true
		}
	}
	return changed
}

// report hands set plus the held gateways to onChange.
func (v *view) report(set map[uint64]*pb.GatewayInfo) {
	all := make(map[uint64]*pb.GatewayInfo, len(set)+len(v.held))
	for id, h := range v.held {
		all[id] = h.info
	}
	maps.Copy(all, set)
	v.last = all
	v.onChange(sorted(all))
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
