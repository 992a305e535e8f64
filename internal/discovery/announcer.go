package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Defaults for AnnouncerConfig and WatcherConfig zero values.
const (
	// DefaultTTL is the lease TTL an Announcer asks for: how long the entry
	// outlives a broken stream, the time a gateway has to fail over.
	DefaultTTL = 10 * time.Second
	// DefaultMinBackoff is the first delay between reconnect rounds.
	DefaultMinBackoff = 100 * time.Millisecond
	// DefaultMaxBackoff caps the delay between reconnect rounds.
	DefaultMaxBackoff = 5 * time.Second
	// DefaultDialTimeout bounds connecting to one register and waiting for
	// its first answer.
	DefaultDialTimeout = 3 * time.Second
)

const (
	// leaveTimeout bounds the goodbye sent when Run's ctx is done.
	leaveTimeout = time.Second
	// minKeepalive guards against a register asking for a spinning interval.
	minKeepalive = 10 * time.Millisecond
)

// AnnouncerConfig configures an Announcer.
type AnnouncerConfig struct {
	Registers   []string          // gRPC addresses of registers (required, at least one)
	Gateway     *pb.GatewayInfo   // what to announce (required; NodeId != 0, LanAddr != "")
	Secret      string            // cluster secret ("" sends none)
	TTL         time.Duration     // lease TTL asked for; 0: DefaultTTL
	DialOptions []grpc.DialOption // extra dial options, e.g. TLS credentials; default plaintext
	MinBackoff  time.Duration     // 0: DefaultMinBackoff
	MaxBackoff  time.Duration     // 0: DefaultMaxBackoff
	Logger      *slog.Logger      // nil: discard
}

// Announcer holds the lease of one gateway on the register cluster.
type Announcer struct {
	cfg       AnnouncerConfig
	gw        *pb.GatewayInfo
	log       *slog.Logger
	running   atomic.Bool
	announced atomic.Bool
}

// NewAnnouncer validates cfg, fills its defaults and returns an Announcer.
// The GatewayInfo is copied.
func NewAnnouncer(cfg AnnouncerConfig) (*Announcer, error) {
	if len(cfg.Registers) == 0 {
		return nil, ErrNoRegisters
	}
	if cfg.Gateway == nil || cfg.Gateway.GetNodeId() == 0 || cfg.Gateway.GetLanAddr() == "" {
		return nil, ErrInvalidGateway
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.TTL < time.Millisecond || cfg.TTL.Milliseconds() > int64(^uint32(0)) {
		return nil, fmt.Errorf("%w: TTL %v out of range", ErrInvalidConfig, cfg.TTL)
	}
	var ok bool
	if cfg.MinBackoff, cfg.MaxBackoff, ok = validBackoff(cfg.MinBackoff, cfg.MaxBackoff); !ok {
		return nil, fmt.Errorf("%w: backoff %v..%v", ErrInvalidConfig, cfg.MinBackoff, cfg.MaxBackoff)
	}
	cfg.Registers = slices.Clone(cfg.Registers)
	cfg.DialOptions = slices.Clone(cfg.DialOptions)
	return &Announcer{
		cfg: cfg,
		gw:  proto.CloneOf(cfg.Gateway),
		log: discardIfNil(cfg.Logger).With("node_id", fmt.Sprintf("%016x", cfg.Gateway.GetNodeId())),
	}, nil
}

// Announced reports whether a register currently holds the lease (for
// readiness probes).
func (a *Announcer) Announced() bool { return a.announced.Load() }

// Run holds the lease until ctx is done. It connects to one register (random
// order, failover to the next on error, backoff with full jitter between
// rounds), sends the GatewayInfo, then keepalives at the interval the register
// asks for. A register that leaves about two keepalives unanswered, or whose
// stream fails, is given up for the next one. When ctx is done Run sends a
// leave (best effort, bounded by about one second) and returns nil. It returns
// ErrRunning if the Announcer is already running.
func (a *Announcer) Run(ctx context.Context) error {
	if !a.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer a.running.Store(false)
	bo := &Backoff{Min: a.cfg.MinBackoff, Max: a.cfg.MaxBackoff}
	runRounds(ctx, a.cfg.Registers, bo, a.log, a.session)
	return nil
}

// session holds the lease on the register at addr until it fails or ctx is
// done (then it leaves).
func (a *Announcer) session(ctx context.Context, addr string) (established bool, err error) {
	dctx, cancel := context.WithTimeout(ctx, DefaultDialTimeout)
	conn, err := Dial(dctx, addr, a.cfg.Secret, a.cfg.DialOptions...)
	cancel()
	if err != nil {
		return false, err
	}
	defer conn.Close()

	// The stream outlives ctx by the leave message, so it has its own cancel.
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	stream, err := pb.NewRegisterClient(conn).Announce(sctx)
	if err != nil {
		scancel()
		return false, fmt.Errorf("announce to %s: %w", addr, err)
	}
	answers := make(chan *pb.AnnounceResponse, 1)
	recvErr := make(chan error, 1)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			r, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case answers <- r:
			case <-sctx.Done():
				return
			}
		}
	})
	defer func() { scancel(); wg.Wait() }()

	if err := stream.Send(&pb.AnnounceRequest{Gateway: a.gw, TtlMs: uint32(a.cfg.TTL.Milliseconds())}); err != nil {
		return false, fmt.Errorf("announce to %s: %w", addr, err)
	}
	first := time.NewTimer(DefaultDialTimeout)
	defer first.Stop()
	var interval time.Duration
	select {
	case r := <-answers:
		interval = a.keepalive(r)
		a.log.Info("announced", "register", addr, "register_name", r.GetRegister(), "keepalive", interval)
	case err := <-recvErr:
		return false, fmt.Errorf("announce to %s: %w", addr, err)
	case <-first.C:
		return false, fmt.Errorf("announce to %s: %w", addr, errNoAnswer)
	case <-ctx.Done():
		// The register may hold the lease already: leave, or the entry
		// would linger for its TTL.
		a.leave(stream, answers, recvErr)
		return false, nil
	}

	a.announced.Store(true)
	defer a.announced.Store(false)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	last := time.Now()
	for {
		select {
		case <-ctx.Done():
			a.leave(stream, answers, recvErr)
			return true, nil
		case r := <-answers:
			last = time.Now()
			if d := a.keepalive(r); d != interval {
				interval = d
				tick.Reset(interval)
			}
		case err := <-recvErr:
			return true, fmt.Errorf("announce to %s: %w", addr, err)
		case <-tick.C:
			if time.Since(last) > 2*interval+interval/2 {
				return true, fmt.Errorf("announce to %s: %w", addr, errNoAnswer)
			}
			if err := stream.Send(&pb.AnnounceRequest{}); err != nil {
				// The real error, if any, comes from Recv.
				return true, fmt.Errorf("announce to %s: keepalive: %w", addr, err)
			}
		}
	}
}

// keepalive returns the interval asked for by r, with fallbacks.
func (a *Announcer) keepalive(r *pb.AnnounceResponse) time.Duration {
	d := time.Duration(r.GetKeepaliveIntervalMs()) * time.Millisecond
	if d <= 0 {
		d = a.cfg.TTL / 3
	}
	return max(d, minKeepalive)
}

// leave tells the register the gateway is going away and waits, at most
// leaveTimeout, for its answer.
func (a *Announcer) leave(stream grpc.BidiStreamingClient[pb.AnnounceRequest, pb.AnnounceResponse], answers <-chan *pb.AnnounceResponse, recvErr <-chan error) {
	a.announced.Store(false)
	if err := stream.Send(&pb.AnnounceRequest{Leave: true}); err != nil {
		a.log.Warn("leave not sent", "err", err)
		return
	}
	t := time.NewTimer(leaveTimeout)
	defer t.Stop()
	select {
	case <-answers:
		a.log.Info("left")
	case err := <-recvErr:
		a.log.Warn("leave not acknowledged", "err", err)
	case <-t.C:
		a.log.Warn("leave not acknowledged in time")
	}
	_ = stream.CloseSend()
}
