package register

import (
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/hashicorp/memberlist"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Defaults for ClusterConfig zero values.
const (
	// DefaultBindAddr is where a ClusterStore gossips (TCP and UDP).
	DefaultBindAddr = "127.0.0.1:7946"
	// DefaultRejoinInterval is how often a ClusterStore retries the Join
	// addresses that are not among its members, once it has joined or its
	// JoinTimeout has passed.
	DefaultRejoinInterval = 10 * time.Second
	// DefaultJoinTimeout is how long a ClusterStore keeps retrying its Join
	// addresses with a short backoff before it starts alone.
	DefaultJoinTimeout = 10 * time.Second
	// MinJoinBackoff and MaxJoinBackoff bound the delay between two join
	// attempts before the first success (doubling from MinJoinBackoff).
	MinJoinBackoff = 100 * time.Millisecond
	MaxJoinBackoff = time.Second
)

const (
	// tombstoneTTL is how long a removal is remembered to beat stale gossip.
	tombstoneTTL = time.Minute
	// clusterLeaveTimeout bounds the goodbye gossiped by Close.
	clusterLeaveTimeout = time.Second
	// deadNodeReclaimTime is how long after its death a register's name may
	// come back from another address (a rescheduled pod).
	deadNodeReclaimTime = 10 * time.Second
)

// never is the expiry of a lease held by a live remote register: the owner
// gossips its removal, or its leaving starts the countdown.
var never = time.Unix(1<<40, 0)

// ClusterConfig configures a ClusterStore.
type ClusterConfig struct {
	// Name of this register in the cluster, unique among registers.
	// Default: host name and BindAddr (set it when BindAddr's port is 0).
	Name string
	// BindAddr is host:port for gossip, TCP and UDP. Port 0 picks a free
	// port (see Addr). Default: DefaultBindAddr.
	BindAddr string
	// Join lists gossip addresses of the other registers of the cluster.
	// NewClusterStore returns at once; a goroutine tries the addresses,
	// again after MinJoinBackoff, doubling up to MaxJoinBackoff, until one
	// answers (Joined then reports true) or JoinTimeout passes (the register
	// then runs alone). After that, addresses that are not (or no longer)
	// members are retried every RejoinInterval, so that registers split by a
	// partition, or started alone, merge. Addresses that resolve to this
	// register's own gossip address are skipped, so every register may be
	// given the same list.
	Join []string
	// JoinTimeout bounds the fast join retries. 0: DefaultJoinTimeout.
	JoinTimeout time.Duration
	// RejoinInterval is how often Join addresses missing from the members
	// are retried. 0: DefaultRejoinInterval; negative: never.
	RejoinInterval time.Duration
	// SecretKey encrypts gossip (memberlist keyring): 16, 24 or 32 bytes, the
	// same on every register; nil: plaintext. See KeyFromSecret.
	SecretKey []byte
	// GossipInterval and ProbeInterval tune memberlist; 0: the memberlist
	// LAN defaults. Tests use short ones.
	GossipInterval time.Duration
	ProbeInterval  time.Duration
	// Logger receives the store's and memberlist's logs (memberlist's
	// errors and warnings, such as a peer refused for a wrong key, at warn
	// level, the rest at debug level). Default: discard.
	Logger *slog.Logger
}

// KeyFromSecret derives a 32-byte gossip key from a cluster secret.
func KeyFromSecret(secret string) []byte {
	k := sha256.Sum256([]byte("gatewayworker/register/gossip\x00" + secret))
	return k[:]
}

// ClusterStore is a Store shared by a cluster of registers over
// hashicorp/memberlist. Each register gossips the leases it holds (on
// change, plus a full state on every push/pull sync); a gateway announced to
// any register is seen by the watchers of every register. A lease held by a
// live register lives until that register removes it (leave or expiry); the
// leases of a register that leaves or dies count down their TTL everywhere,
// unless the gateway re-announces to another register first.
//
// Concurrent changes of one gateway are ordered by the wall clock of the
// registers that made them (Unix ns, bumped to stay increasing): keep
// register clocks in sync (NTP).
type ClusterStore struct {
	name  string
	log   *slog.Logger
	ml    *memberlist.Memberlist
	queue *memberlist.TransmitLimitedQueue

	mu     sync.Mutex
	leases *leaseTable
	tombs  map[uint64]tomb
	alive  map[string]bool // registers memberlist sees alive
	hub    hub
	timer  *time.Timer
	armed  time.Time
	closed bool

	tombTTL   time.Duration // tombstoneTTL (tests shorten it)
	joined    atomic.Bool   // Join was empty, or a join succeeded
	joinEnded atomic.Bool   // joined, or JoinTimeout passed
	peak      atomic.Int32  // most members seen at once (this one included)
	joinSize  int           // 1 + distinct Join addresses

	stop chan struct{}  // closed by Close: ends the join loop
	wg   sync.WaitGroup // the join loop
}

type tomb struct {
	version int64
	until   time.Time
}

var (
	_ Store       = (*ClusterStore)(nil)
	_ endingStore = (*ClusterStore)(nil)
)

// NewClusterStore starts gossiping on cfg.BindAddr and joins cfg.Join.
// Close it to leave the cluster.
func NewClusterStore(cfg ClusterConfig) (*ClusterStore, error) {
	if cfg.BindAddr == "" {
		cfg.BindAddr = DefaultBindAddr
	}
	host, portStr, err := net.SplitHostPort(cfg.BindAddr)
	if err != nil {
		return nil, fmt.Errorf("%w: BindAddr: %w", ErrInvalidConfig, err)
	}
	port, err := strconv.Atoi(portStr)
	if err != nil || port < 0 || port > 65535 {
		return nil, fmt.Errorf("%w: BindAddr port %q", ErrInvalidConfig, portStr)
	}
	switch len(cfg.SecretKey) {
	case 0, 16, 24, 32:
	default:
		return nil, fmt.Errorf("%w: SecretKey must be 16, 24 or 32 bytes", ErrInvalidConfig)
	}
	if cfg.RejoinInterval == 0 {
		cfg.RejoinInterval = DefaultRejoinInterval
	}
	if cfg.JoinTimeout == 0 {
		cfg.JoinTimeout = DefaultJoinTimeout
	}
	if cfg.GossipInterval < 0 || cfg.ProbeInterval < 0 || cfg.JoinTimeout < 0 {
		return nil, fmt.Errorf("%w: negative interval", ErrInvalidConfig)
	}
	if cfg.Name == "" {
		h, _ := os.Hostname()
		cfg.Name = h + "/" + cfg.BindAddr
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}

	s := &ClusterStore{
		name:    cfg.Name,
		log:     cfg.Logger.With("cluster_node", cfg.Name),
		leases:  newLeaseTable(),
		tombs:   make(map[uint64]tomb),
		alive:   make(map[string]bool),
		stop:    make(chan struct{}),
		tombTTL: tombstoneTTL,
	}
	s.peak.Store(1)
	s.timer = time.AfterFunc(time.Hour, s.expire)
	s.timer.Stop()

	mc := memberlist.DefaultLANConfig()
	mc.Name = cfg.Name
	mc.BindAddr, mc.BindPort = host, port
	mc.AdvertisePort = port
	if cfg.GossipInterval > 0 {
		mc.GossipInterval = cfg.GossipInterval
	}
	if cfg.ProbeInterval > 0 {
		mc.ProbeInterval = cfg.ProbeInterval
		mc.ProbeTimeout = min(mc.ProbeTimeout, cfg.ProbeInterval/2)
	}
	if len(cfg.SecretKey) > 0 {
		mc.SecretKey = slices.Clone(cfg.SecretKey)
	}
	mc.Logger = memberlistLogger(s.log)
	mc.DeadNodeReclaimTime = deadNodeReclaimTime
	d := &clusterDelegate{s: s}
	mc.Delegate = d
	mc.Events = d

	s.queue = &memberlist.TransmitLimitedQueue{RetransmitMult: mc.RetransmitMult}
	ml, err := memberlist.Create(mc)
	if err != nil {
		s.timer.Stop()
		return nil, fmt.Errorf("register: start gossip on %s: %w", cfg.BindAddr, err)
	}
	s.ml = ml
	s.queue.NumNodes = ml.NumMembers
	others := s.others(cfg.Join)
	s.joinSize = 1 + len(others)
	if len(others) == 0 { // no join, or only this register's own address
		s.joined.Store(true)
		s.joinEnded.Store(true)
		return s, nil
	}
	join := slices.Clone(cfg.Join)
	s.wg.Go(func() {
		s.joinLoop(others, cfg.JoinTimeout)
		if cfg.RejoinInterval > 0 {
			s.rejoinLoop(join, cfg.RejoinInterval)
		}
	})
	return s, nil
}

// others returns the distinct addresses of join that do not resolve to
// this register's own gossip address (a --join list shared by every
// register names each one too). An address that does not resolve counts.
func (s *ClusterStore) others(join []string) []string {
	self := s.Addr()
	seen := map[string]bool{}
	var out []string
	for _, a := range join {
		key := a
		if addr, err := net.ResolveTCPAddr("tcp", a); err == nil {
			key = addr.String()
			if key == self {
				continue
			}
		}
		if !seen[key] {
			seen[key] = true
			out = append(out, a)
		}
	}
	return out
}

// joinLoop tries join with a short backoff until one address answers, the
// timeout passes or Close.
func (s *ClusterStore) joinLoop(join []string, timeout time.Duration) {
	start := time.Now()
	deadline := start.Add(timeout)
	backoff := MinJoinBackoff
	for attempt := 1; ; attempt++ {
		n, err := s.ml.Join(join)
		if n > 0 && s.ml.NumMembers() > 1 { // not only itself, listed in join
			s.joined.Store(true)
			s.joinEnded.Store(true)
			s.log.Info("joined the register cluster", "contacted", n, "attempts", attempt, "after", time.Since(start).Round(time.Millisecond), "members", s.Members())
			return
		}
		wait := min(backoff, time.Until(deadline))
		if wait <= 0 {
			s.joinEnded.Store(true)
			s.log.Warn("joined no register, starting alone", "join", join, "attempts", attempt, "err", err)
			return
		}
		s.log.Debug("join: no register reached yet", "join", join, "retry_in", wait, "err", err)
		t := time.NewTimer(wait)
		select {
		case <-s.stop:
			t.Stop()
			return
		case <-t.C:
		}
		backoff = min(2*backoff, MaxJoinBackoff)
	}
}

// Joined reports whether this register is part of a cluster: its Join list
// was empty, or one of its addresses answered (now or at a later rejoin).
func (s *ClusterStore) Joined() bool { return s.joined.Load() }

// JoinEnded reports whether the fast join attempts are over: joined, or
// JoinTimeout passed and the register runs alone for now.
func (s *ClusterStore) JoinEnded() bool { return s.joinEnded.Load() }

// Size returns the number of registers this one counts in its cluster for
// leader-lease majorities: the larger of 1 + its distinct Join addresses
// other than its own and the most members it has seen alive at once. It
// never decreases.
func (s *ClusterStore) Size() int { return max(s.joinSize, int(s.peak.Load())) }

// rejoinLoop retries, every interval until Close, the join addresses that
// are not among the members.
func (s *ClusterStore) rejoinLoop(join []string, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		missing := s.missingPeers(join)
		if len(missing) == 0 {
			continue
		}
		if n, err := s.ml.Join(missing); n > 0 {
			s.joined.Store(true)
			s.log.Info("rejoined registers", "contacted", n, "members", s.Members())
		} else {
			s.log.Debug("rejoin: no register reached", "join", missing, "err", err)
		}
	}
}

// missingPeers returns the addresses of join that resolve to no member.
func (s *ClusterStore) missingPeers(join []string) []string {
	have := make(map[string]bool)
	for _, m := range s.ml.Members() {
		have[net.JoinHostPort(m.Addr.String(), strconv.Itoa(int(m.Port)))] = true
	}
	var out []string
	for _, a := range join {
		if addr, err := net.ResolveTCPAddr("tcp", a); err != nil || !have[addr.String()] {
			out = append(out, a)
		}
	}
	return out
}

// Addr returns the gossip address other registers join.
func (s *ClusterStore) Addr() string {
	n := s.ml.LocalNode()
	return net.JoinHostPort(n.Addr.String(), strconv.Itoa(int(n.Port)))
}

// Members returns the names of the registers this one sees alive, sorted.
func (s *ClusterStore) Members() []string {
	var out []string
	for _, m := range s.ml.Members() {
		out = append(out, m.Name)
	}
	slices.Sort(out)
	return out
}

// Put implements Store: this register takes the lease of gw.
func (s *ClusterStore) Put(gw *pb.GatewayInfo, ttl time.Duration) error {
	if !validGateway(gw) {
		return ErrInvalidGateway
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	now := time.Now()
	id := gw.GetNodeId()
	info := s.leases.keep(gw)
	cur, had := s.leases.get(id)
	gossip := !had || cur.owner != s.name || cur.info != info || cur.ttl != ttl
	version := s.nextVersionLocked(id, now)
	if s.leases.put(info, now.Add(ttl), s.name) {
		s.hub.publish(Change{Kind: ChangeAdded, Gateway: info})
	}
	l, _ := s.leases.get(id)
	l.ttl = ttl
	var msg wireEntry
	if gossip {
		l.version = version
		msg = entryOf(l)
	}
	delete(s.tombs, id)
	s.rearmLocked()
	s.mu.Unlock()
	if gossip {
		s.broadcast(msg)
	}
	return nil
}

// endLease restarts the TTL of gw's lease if this register still holds it:
// a stream that broke here must not take back a gateway that has moved to
// another register meanwhile.
func (s *ClusterStore) endLease(gw *pb.GatewayInfo, ttl time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if l, ok := s.leases.get(gw.GetNodeId()); ok && l.owner == s.name {
		s.leases.setExpiry(l, time.Now().Add(ttl))
		s.rearmLocked()
	}
	return nil
}

// Delete implements Store: the gateway is removed everywhere.
func (s *ClusterStore) Delete(nodeID uint64) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	if _, ok := s.leases.get(nodeID); !ok {
		s.mu.Unlock()
		return nil
	}
	msg := s.removeLocked(nodeID, s.nextVersionLocked(nodeID, time.Now()))
	s.rearmLocked()
	s.mu.Unlock()
	s.broadcast(msg)
	return nil
}

// Watch implements Store.
func (s *ClusterStore) Watch(buffer int) (*Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.hub.subscribe(s.leases.infos(), buffer), nil
}

// Close implements Store: it leaves the cluster (the other registers count
// down the TTL of the leases this one held) and stops gossiping.
func (s *ClusterStore) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.timer.Stop()
	s.hub.closeAll(ErrClosed)
	s.mu.Unlock()
	close(s.stop)
	s.wg.Wait() // a join in progress ends within memberlist's TCP timeout
	if err := s.ml.Leave(clusterLeaveTimeout); err != nil {
		s.log.Warn("leaving the cluster", "err", err)
	}
	if err := s.ml.Shutdown(); err != nil {
		return fmt.Errorf("register: stop gossip: %w", err)
	}
	return nil
}

// nextVersionLocked returns a version for a change of id made here now,
// above every version seen for id.
func (s *ClusterStore) nextVersionLocked(id uint64, now time.Time) int64 {
	v := now.UnixNano()
	if l, ok := s.leases.get(id); ok && v <= l.version {
		v = l.version + 1
	}
	if t, ok := s.tombs[id]; ok && v <= t.version {
		v = t.version + 1
	}
	return v
}

// removeLocked drops the lease of id at version, remembers the removal and
// returns its gossip message.
func (s *ClusterStore) removeLocked(id uint64, version int64) wireEntry {
	if s.leases.remove(id) {
		s.hub.publish(Change{Kind: ChangeRemoved, Gateway: removedInfo(id)})
	}
	s.tombs[id] = tomb{version: version, until: time.Now().Add(s.tombTTL)}
	return wireEntry{Node: id, Owner: s.name, Version: version, Deleted: true}
}

// applyLocked applies a change made by another register and reports whether
// it was news (to be gossiped on).
func (s *ClusterStore) applyLocked(e wireEntry, info *pb.GatewayInfo, now time.Time) bool {
	if e.Owner == s.name {
		return false // our own change coming back
	}
	if t, ok := s.tombs[e.Node]; ok && e.Version <= t.version {
		return false
	}
	cur, had := s.leases.get(e.Node)
	if had && e.Version <= cur.version {
		if e.Version == cur.version && cur.owner == e.Owner && s.alive[e.Owner] {
			s.leases.setExpiry(cur, never) // the owner is back
		}
		return false
	}
	if e.Deleted {
		if s.leases.remove(e.Node) {
			s.hub.publish(Change{Kind: ChangeRemoved, Gateway: removedInfo(e.Node)})
		}
		s.tombs[e.Node] = tomb{version: e.Version, until: now.Add(s.tombTTL)}
		return true
	}
	ttl := time.Duration(e.TTLms) * time.Millisecond
	expires := never
	if !s.alive[e.Owner] {
		expires = now.Add(ttl)
	}
	if had && protoEqual(cur.info, info) {
		info = cur.info
	}
	if s.leases.put(info, expires, e.Owner) {
		s.hub.publish(Change{Kind: ChangeAdded, Gateway: info})
	}
	l, _ := s.leases.get(e.Node)
	l.version, l.ttl = e.Version, ttl
	return true
}

// expire runs on the timer. Leases this register holds are removed
// everywhere; those of a departed register only here (every register counts
// them down itself).
func (s *ClusterStore) expire() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.armed = time.Time{}
	var msgs []wireEntry
	now := time.Now()
	s.sweepTombsLocked(now)
	for _, l := range s.leases.expire(now) {
		s.hub.publish(Change{Kind: ChangeRemoved, Gateway: removedInfo(l.info.GetNodeId())})
		if l.owner == s.name {
			msgs = append(msgs, s.removeLocked(l.info.GetNodeId(), l.version+1))
		}
	}
	s.rearmLocked()
	s.mu.Unlock()
	for _, m := range msgs {
		s.broadcast(m)
	}
}

// sweepTombsLocked forgets the removals older than tombTTL, whichever
// register made them.
func (s *ClusterStore) sweepTombsLocked(now time.Time) {
	for n, t := range s.tombs {
		if now.After(t.until) {
			delete(s.tombs, n)
		}
	}
}

// Tombstones returns the number of removals remembered (a metric and tests).
func (s *ClusterStore) Tombstones() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.tombs)
}

// rearmLocked sets the timer to the earliest lease expiry or tombstone end.
func (s *ClusterStore) rearmLocked() {
	next, ok := s.leases.next()
	if !ok {
		next = never
	}
	for _, t := range s.tombs {
		if t.until.Before(next) {
			next, ok = t.until, true
		}
	}
	if !ok || !next.Before(never) {
		s.timer.Stop()
		s.armed = time.Time{}
		return
	}
	if next.Equal(s.armed) {
		return
	}
	s.armed = next
	s.timer.Reset(time.Until(next))
}

// broadcast queues e for gossip. It must be called without s.mu: the queue
// asks memberlist for the member count, and memberlist calls the event
// delegate, which takes s.mu, under its own lock.
func (s *ClusterStore) broadcast(e wireEntry) {
	b, err := encodeWire(e)
	if err != nil {
		s.log.Error("encoding gossip", "err", err)
		return
	}
	s.queue.QueueBroadcast(&entryBroadcast{node: e.Node, version: e.Version, msg: b})
}

// entryBroadcast is one gossiped change; a newer change of the same gateway
// replaces it in the queue.
type entryBroadcast struct {
	node    uint64
	version int64
	msg     []byte
}

func (b *entryBroadcast) Invalidates(o memberlist.Broadcast) bool {
	ob, ok := o.(*entryBroadcast)
	return ok && ob.node == b.node && ob.version <= b.version
}
func (b *entryBroadcast) Message() []byte { return b.msg }
func (b *entryBroadcast) Finished()       {}

// clusterDelegate receives memberlist's callbacks for a ClusterStore.
type clusterDelegate struct{ s *ClusterStore }

var (
	_ memberlist.Delegate      = (*clusterDelegate)(nil)
	_ memberlist.EventDelegate = (*clusterDelegate)(nil)
)

func (d *clusterDelegate) NodeMeta(int) []byte { return nil }

// NotifyMsg applies a change gossiped by another register and gossips it on.
func (d *clusterDelegate) NotifyMsg(b []byte) {
	s := d.s
	e, info, err := decodeEntry(b)
	if err != nil {
		s.log.Warn("dropping gossip", "err", err)
		return
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	news := s.applyLocked(e, info, time.Now())
	s.rearmLocked()
	s.mu.Unlock()
	if news {
		s.queue.QueueBroadcast(&entryBroadcast{node: e.Node, version: e.Version, msg: slices.Clone(b)})
	}
}

func (d *clusterDelegate) GetBroadcasts(overhead, limit int) [][]byte {
	return d.s.queue.GetBroadcasts(overhead, limit)
}

// LocalState returns the leases this register holds, for push/pull sync.
func (d *clusterDelegate) LocalState(bool) []byte {
	s := d.s
	s.mu.Lock()
	st := wireState{Owner: s.name, At: time.Now().UnixNano()}
	for _, l := range s.leases.byID {
		if l.owner == s.name {
			st.Entries = append(st.Entries, entryOf(l))
		}
	}
	s.mu.Unlock()
	b, err := encodeWire(st)
	if err != nil {
		s.log.Error("encoding gossip state", "err", err)
		return nil
	}
	return b
}

// MergeRemoteState applies the full state of another register: its leases,
// and the removal of those it no longer holds.
func (d *clusterDelegate) MergeRemoteState(b []byte, _ bool) {
	s := d.s
	st, infos, err := decodeState(b)
	if err != nil {
		s.log.Warn("dropping gossip state", "err", err)
		return
	}
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || st.Owner == s.name {
		return
	}
	held := make(map[uint64]bool, len(st.Entries))
	for i, e := range st.Entries {
		held[e.Node] = true
		s.applyLocked(e, infos[i], now)
	}
	for id, l := range s.leases.byID {
		if l.owner == st.Owner && !held[id] && l.version < st.At {
			s.removeLocked(id, st.At)
		}
	}
	s.rearmLocked()
}

func (d *clusterDelegate) NotifyJoin(n *memberlist.Node) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	s.alive[n.Name] = true
	if n.Name != s.name {
		s.joined.Store(true)
	}
	if c := int32(len(s.alive)); c > s.peak.Load() {
		s.peak.Store(c)
	}
}

// NotifyLeave starts the countdown of the leases the departed register held.
func (d *clusterDelegate) NotifyLeave(n *memberlist.Node) {
	s := d.s
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.alive, n.Name)
	if s.closed || n.Name == s.name {
		return
	}
	now := time.Now()
	for _, l := range s.leases.byID {
		if l.owner == n.Name && !l.expires.Before(never) {
			s.leases.setExpiry(l, now.Add(l.ttl))
		}
	}
	s.rearmLocked()
	s.log.Info("register left the cluster, its leases count down", "register", n.Name)
}

func (d *clusterDelegate) NotifyUpdate(*memberlist.Node) {}
