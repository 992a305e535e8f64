package register

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Leader lease limits.
const (
	// DefaultMaxLeaderTTL caps the TTL of a leader-lease grant, and is how
	// long a register grants no lease after it starts (see
	// Config.MaxLeaderTTL).
	DefaultMaxLeaderTTL = 10 * time.Second
	// MaxLeaseNames bounds the lease names one register keeps.
	MaxLeaseNames = 1024
	// maxLeaseField bounds the lease name and the holder, in bytes.
	maxLeaseField = 128
)

// grant is this register's grant of one named lease.
type grant struct {
	holder  string    // "" when free
	expires time.Time // local monotonic time; meaningless when holder is ""
	token   uint64    // raised on every change of holder, never lowered
}

// leaderLeases are the grants of one register. Nothing of them is gossiped:
// each register grants on its own, and a worker leads only while a majority
// of the registers grant it the lease.
type leaderLeases struct {
	maxTTL    time.Duration
	notBefore time.Time // no grant before (a restarted register forgot its grants)
	instance  uint64    // random per process
	base      uint64    // first token: Unix ms at start, so that a restart goes higher
	floor     uint64    // highest token of a swept name

	mu     sync.Mutex
	grants map[string]*grant
	// counters (metrics)
	granted, refused uint64
}

func newLeaderLeases(maxTTL time.Duration, now time.Time) *leaderLeases {
	var b [8]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand)
	return &leaderLeases{
		maxTTL:    maxTTL,
		notBefore: now.Add(maxTTL),
		instance:  binary.LittleEndian.Uint64(b[:]),
		base:      uint64(now.UnixMilli()),
		grants:    make(map[string]*grant),
	}
}

// handle answers one LeaseRequest received at now; newHolder reports a
// grant to another holder than before.
func (ls *leaderLeases) handle(req *pb.LeaseRequest, now time.Time) (resp *pb.LeaseResponse, newHolder bool, err error) {
	name, holder := req.GetName(), req.GetHolder()
	if name == "" || holder == "" || len(name) > maxLeaseField || len(holder) > maxLeaseField {
		return nil, false, status.Error(codes.InvalidArgument, "register: lease needs a name and a holder of 1 to 128 bytes")
	}
	ttl := ls.maxTTL
	if ms := req.GetTtlMs(); ms > 0 {
		ttl = min(max(time.Duration(ms)*time.Millisecond, MinTTL), ls.maxTTL)
	}
	ls.mu.Lock()
	defer ls.mu.Unlock()
	g, ok := ls.grants[name]
	if !ok {
		if req.GetRelease() {
			return &pb.LeaseResponse{Token: max(ls.base, ls.floor)}, false, nil
		}
		if len(ls.grants) >= MaxLeaseNames {
			ls.sweepLocked(now)
			if len(ls.grants) >= MaxLeaseNames {
				return nil, false, status.Error(codes.ResourceExhausted, "register: too many lease names")
			}
		}
		g = &grant{token: max(ls.base, ls.floor)}
		ls.grants[name] = g
	}
	resp = &pb.LeaseResponse{TtlMs: uint32(ttl.Milliseconds())}
	live := g.holder != "" && now.Before(g.expires)
	switch {
	case req.GetRelease():
		if g.holder == holder {
			g.holder, g.expires = "", time.Time{}
		}
	case now.Before(ls.notBefore):
		// Started less than maxTTL ago: a grant made before a restart may
		// still run elsewhere's majority. Grant nothing yet.
	case g.holder == holder:
		g.token = max(g.token, req.GetToken())
		g.expires = now.Add(ttl)
		resp.Granted = true
	case !live:
		newHolder = g.holder != holder
		g.holder = holder
		g.token = max(g.token, req.GetToken()) + 1
		g.expires = now.Add(ttl)
		resp.Granted = true
	}
	if resp.Granted {
		ls.granted++
	} else if !req.GetRelease() {
		ls.refused++
	}
	if g.holder != "" && now.Before(g.expires) {
		resp.Holder = g.holder
	}
	resp.Token = g.token
	return resp, newHolder, nil
}

// sweepLocked forgets the names whose grant has ended.
func (ls *leaderLeases) sweepLocked(now time.Time) {
	for n, g := range ls.grants {
		if g.holder == "" || !now.Before(g.expires) {
			ls.floor = max(ls.floor, g.token)
			delete(ls.grants, n)
		}
	}
}

// counts returns the grants and refusals made so far.
func (ls *leaderLeases) counts() (granted, refused uint64) {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return ls.granted, ls.refused
}

// clusterSize returns the number of registers told to lease holders:
// Config.ClusterSize, else the ClusterStore's Size, else 1.
func (r *Register) clusterSize() int {
	if r.cfg.ClusterSize > 0 {
		return r.cfg.ClusterSize
	}
	if cs, ok := r.store.(*ClusterStore); ok {
		return cs.Size()
	}
	return 1
}

// Lease implements pb.RegisterServer.
func (s *service) Lease(_ context.Context, req *pb.LeaseRequest) (*pb.LeaseResponse, error) {
	r := s.r
	resp, newHolder, err := r.leaders.handle(req, time.Now())
	if err != nil {
		return nil, err
	}
	if newHolder {
		r.log.Info("leader lease granted to a new holder", "lease", req.GetName(), "holder", req.GetHolder(), "token", resp.GetToken())
	}
	resp.Register = r.cfg.Name
	resp.Instance = r.leaders.instance
	resp.ClusterSize = uint32(r.clusterSize())
	return resp, nil
}
