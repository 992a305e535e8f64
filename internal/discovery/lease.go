package discovery

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Leader lease defaults and limits.
const (
	// DefaultLeaseName is the lease a LeaseConfig with no Name holds.
	DefaultLeaseName = "leader"
	// DefaultLeaseTTL is the TTL a LeaseConfig with no TTL asks for.
	DefaultLeaseTTL = 5 * time.Second
	// MinLeaseTTL is the shortest LeaseConfig.TTL accepted.
	MinLeaseTTL = 300 * time.Millisecond
	// LeaseClockDrift is the largest difference of rate assumed between the
	// clocks of a lease holder and of a register (2%). The holder stops
	// leading this fraction of the TTL, plus LeaseMargin, before the
	// earliest moment a register may let its grant go.
	LeaseClockDrift = 0.02
	// LeaseMargin is the fixed part of that safety margin.
	LeaseMargin = 50 * time.Millisecond
	// leaseReleaseTimeout bounds the release sent when Run ends.
	leaseReleaseTimeout = time.Second
)

// LeaseConfig configures a Lease.
type LeaseConfig struct {
	// Registers are the gRPC addresses of the registers (required). A
	// holder leads only while more than half of the cluster's registers
	// grant it the lease, so list them all: with fewer than a majority of
	// them listed it never leads.
	Registers   []string
	Secret      string            // cluster secret ("" sends none)
	DialOptions []grpc.DialOption // extra dial options, e.g. TLS credentials
	// Name of the lease. Default: DefaultLeaseName.
	Name string
	// Holder identifies this holder (the worker id); required.
	Holder string
	// TTL bounds how long the lease stays without a holder after its
	// holder dies, while a majority of the registers answers the others:
	// each register is asked for a grant of TTL minus two polls (a poll is
	// TTL/10, between 50 ms and 500 ms; the registers may cap the grant,
	// register.Config.MaxLeaderTTL), and the others ask every poll.
	// Default: DefaultLeaseTTL; at least MinLeaseTTL.
	TTL    time.Duration
	Logger *slog.Logger // nil: discard
}

// Term is one uninterrupted time of leading under one fencing token.
type Term struct {
	// Token is the fencing token of the term: higher than the token of
	// every earlier term of any holder of the lease.
	Token uint64
	// Done is closed when the term ends: the lease could not be renewed in
	// time, was lost, or Run ended.
	Done <-chan struct{}
}

// Lease holds a leader lease granted by a majority of the registers: each
// register grants it on its own for a TTL; the holder leads while more than
// half of the cluster's registers (the largest cluster size any of them
// reports, and at least the number of distinct registers that answered one
// round)
// grant it, and stops before the earliest of those grants may end by its
// own clock (see LeaseClockDrift). Two holders never lead at once as long
// as every register's cluster size is at least the number of registers and
// clock rates differ by less than LeaseClockDrift.
type Lease struct {
	cfg     LeaseConfig
	log     *slog.Logger
	running atomic.Bool
	grant   time.Duration // TTL asked of each register: TTL - 2 polls
	poll    time.Duration // between two asks while not leading: TTL/10 in [50 ms, 500 ms]

	mu      sync.Mutex
	token   uint64        // token of the current term, 0 when not leading
	until   time.Time     // end of the current term (local monotonic)
	done    chan struct{} // closed when the current term ends
	expiry  *time.Timer   // ends the term at until
	size    int           // largest cluster size reported, or of registers answering one round
	highest uint64        // highest token seen
}

// NewLease validates cfg, fills its defaults and returns a Lease.
func NewLease(cfg LeaseConfig) (*Lease, error) {
	if len(cfg.Registers) == 0 {
		return nil, ErrNoRegisters
	}
	if cfg.Holder == "" {
		return nil, fmt.Errorf("%w: lease Holder required", ErrInvalidConfig)
	}
	if cfg.Name == "" {
		cfg.Name = DefaultLeaseName
	}
	if cfg.TTL == 0 {
		cfg.TTL = DefaultLeaseTTL
	}
	if cfg.TTL < MinLeaseTTL {
		return nil, fmt.Errorf("%w: lease TTL %v below %v", ErrInvalidConfig, cfg.TTL, MinLeaseTTL)
	}
	cfg.Registers = slices.Clone(cfg.Registers)
	cfg.DialOptions = slices.Clone(cfg.DialOptions)
	poll := min(max(cfg.TTL/10, 50*time.Millisecond), 500*time.Millisecond)
	return &Lease{
		cfg:   cfg,
		log:   discardIfNil(cfg.Logger).With("lease", cfg.Name),
		grant: cfg.TTL - 2*poll,
		poll:  poll,
	}, nil
}

// Held returns the current term if this holder leads now (its local clock
// has not passed the term's end).
func (l *Lease) Held() (Term, bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token == 0 || !time.Now().Before(l.until) {
		return Term{}, false
	}
	return Term{Token: l.token, Done: l.done}, true
}

// Leading reports whether this holder leads now.
func (l *Lease) Leading() bool {
	_, ok := l.Held()
	return ok
}

// Run asks for the lease and renews it until ctx is done; then it ends the
// term, releases the grants (bounded by a second) and returns nil. It
// returns ErrRunning if the Lease is already running.
func (l *Lease) Run(ctx context.Context) error {
	if !l.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	defer l.running.Store(false)
	clients := make([]pb.RegisterClient, 0, len(l.cfg.Registers))
	for _, addr := range l.cfg.Registers {
		conn, err := grpc.NewClient(addr, dialOptions(l.cfg.Secret, l.cfg.DialOptions)...)
		if err != nil {
			return fmt.Errorf("discovery: lease: dial %s: %w", addr, err)
		}
		defer conn.Close()
		clients = append(clients, pb.NewRegisterClient(conn))
	}
	defer func() {
		l.endTerm("stopping")
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), leaseReleaseTimeout)
		defer cancel()
		l.round(rctx, clients, 0, true)
	}()

	renewEvery := l.grant / 3
	poll := l.poll
	var proposal uint64
	confirms := 0
	for {
		start := time.Now()
		resps := l.round(ctx, clients, proposal, false)
		if ctx.Err() != nil {
			return nil
		}
		need, atProposal, granted, grantTTL, highest := l.tally(resps, proposal)
		wait := poll/2 + rand.N(poll/2) // jitter breaks ties between candidates
		switch {
		case proposal != 0 && atProposal >= need:
			confirms = 0
			until := start.Add(grantTTL - time.Duration(float64(grantTTL)*LeaseClockDrift) - LeaseMargin)
			l.lead(proposal, until)
			wait = renewEvery
		case granted >= need && confirms < 3:
			// A majority granted, some with a higher token: confirm that
			// token on them before leading.
			confirms++
			proposal, wait = highest, 0
		default:
			confirms = 0
			if _, leading := l.Held(); leading {
				wait = min(wait, renewEvery) // renew what we can until the term ends
				break
			}
			l.endTerm("no majority")
			if granted > 0 { // free the minority of grants for the others
				l.round(ctx, clients, 0, true)
			}
			proposal = highest
		}
		if wait > 0 {
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return nil
			case <-t.C:
			}
		}
	}
}

// round sends one request to every register at once and returns the
// answers that came within the round timeout. A round that asks for grants
// ends as soon as a majority of the known cluster size granted, so that a
// register that does not answer slows nothing down.
func (l *Lease) round(ctx context.Context, clients []pb.RegisterClient, token uint64, release bool) []*pb.LeaseResponse {
	rctx, cancel := context.WithTimeout(ctx, min(l.grant/4, time.Second))
	defer cancel()
	req := &pb.LeaseRequest{
		Name:    l.cfg.Name,
		Holder:  l.cfg.Holder,
		TtlMs:   uint32(l.grant.Milliseconds()),
		Token:   token,
		Release: release,
	}
	enough := len(clients)
	l.mu.Lock()
	if !release && l.size > 0 {
		enough = l.size/2 + 1
	}
	l.mu.Unlock()
	answers := make(chan *pb.LeaseResponse, len(clients))
	var wg sync.WaitGroup
	defer wg.Wait() // after cancel: the calls left return at once
	defer cancel()
	for i, c := range clients {
		wg.Go(func() {
			resp, err := c.Lease(rctx, req)
			if err != nil {
				l.log.Debug("lease: register did not answer", "register", l.cfg.Registers[i], "err", err)
			}
			answers <- resp // nil on error
		})
	}
	var out []*pb.LeaseResponse
	grants := 0
	for range clients {
		r := <-answers
		if r == nil {
			continue
		}
		out = append(out, r)
		if r.GetGranted() {
			grants++
		}
		if grants >= enough {
			break
		}
	}
	return out
}

// tally counts the answers of a round: the majority needed, the registers
// that granted at the proposed token, all those that granted, the shortest
// TTL granted and the highest token granted.
func (l *Lease) tally(resps []*pb.LeaseResponse, proposal uint64) (need, atProposal, granted int, ttl time.Duration, highest uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	counted := map[uint64]bool{}
	answered := map[uint64]bool{}
	ttl = l.grant
	for _, r := range resps {
		answered[r.GetInstance()] = true
		l.size = max(l.size, int(r.GetClusterSize()))
		l.highest = max(l.highest, r.GetToken())
		if !r.GetGranted() || counted[r.GetInstance()] {
			continue
		}
		counted[r.GetInstance()] = true
		granted++
		if r.GetToken() == proposal {
			atProposal++
		}
		ttl = min(ttl, time.Duration(r.GetTtlMs())*time.Millisecond)
		highest = max(highest, r.GetToken())
	}
	l.size = max(l.size, len(answered)) // distinct registers answering at once
	need = l.size/2 + 1
	return need, atProposal, granted, ttl, max(highest, l.highest)
}

// lead starts or extends the term of token until the given time.
func (l *Lease) lead(token uint64, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token != token || !time.Now().Before(l.until) {
		l.endTermLocked("new term")
		l.token, l.done = token, make(chan struct{})
		l.log.Info("leader lease acquired", "token", token, "registers", l.size)
	}
	l.until = until
	if l.expiry == nil {
		l.expiry = time.AfterFunc(time.Until(until), l.checkExpiry)
	} else {
		l.expiry.Reset(time.Until(until))
	}
}

// checkExpiry ends the term once its end has passed (timer).
func (l *Lease) checkExpiry() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.token != 0 && !time.Now().Before(l.until) {
		l.endTermLocked("not renewed in time")
	}
}

func (l *Lease) endTerm(why string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.endTermLocked(why)
}

func (l *Lease) endTermLocked(why string) {
	if l.token == 0 {
		return
	}
	l.log.Info("leader lease ended", "token", l.token, "reason", why)
	close(l.done)
	l.token, l.done, l.until = 0, nil, time.Time{}
	if l.expiry != nil {
		l.expiry.Stop()
	}
}
