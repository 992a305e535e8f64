package register

import (
	"cmp"
	"slices"
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Store holds the set of live gateways of a register. Implementations are
// safe for concurrent use and never block on a slow subscriber.
type Store interface {
	// Put adds or refreshes the entry of gw (keyed by node id); it expires
	// ttl from now unless Put again or deleted. The store keeps a copy of gw.
	Put(gw *pb.GatewayInfo, ttl time.Duration) error
	// Delete removes the entry of nodeID at once. A missing entry is not an
	// error.
	Delete(nodeID uint64) error
	// Watch returns the current set and every later change, with room for
	// buffer pending changes (at least 1). The caller must Stop it.
	Watch(buffer int) (*Subscription, error)
	// Close releases the store; it is idempotent. Open subscriptions end
	// with ErrClosed.
	Close() error
}

// ChangeKind says what happened to a gateway.
type ChangeKind int

const (
	// ChangeAdded: the gateway became live or its info changed.
	ChangeAdded ChangeKind = iota + 1
	// ChangeRemoved: the gateway left or its lease expired.
	ChangeRemoved
)

// Change is one change of the set of live gateways. Gateway must not be
// modified (it is shared between subscriptions).
type Change struct {
	Kind    ChangeKind
	Gateway *pb.GatewayInfo
}

// Subscription is the result of Store.Watch: a snapshot and the changes
// after it, in order.
type Subscription struct {
	// Snapshot is the set of live gateways at subscription time, sorted by
	// node id.
	Snapshot []*pb.GatewayInfo
	// C delivers the changes after Snapshot. It is closed when the
	// subscription ends; Err then says why.
	C <-chan Change

	c   chan Change
	hub *hub
	err error // set before c is closed
}

// Err returns why C was closed: ErrSlowWatcher, ErrClosed, or nil after
// Stop. It must be called only after C is closed.
func (s *Subscription) Err() error { return s.err }

// Stop ends the subscription and closes C; it is idempotent.
func (s *Subscription) Stop() { s.hub.drop(s, nil) }

// hub fans changes out to subscriptions. Its lock is taken after the lock of
// the store that owns it (lock order: store.mu, then hub.mu).
type hub struct {
	mu   sync.Mutex
	subs map[*Subscription]struct{}
}

// subscribe registers a subscription starting at snapshot. The caller holds
// the store lock so that no change slips between snapshot and subscription.
func (h *hub) subscribe(snapshot []*pb.GatewayInfo, buffer int) *Subscription {
	c := make(chan Change, max(buffer, 1))
	s := &Subscription{Snapshot: snapshot, C: c, c: c, hub: h}
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.subs == nil {
		h.subs = make(map[*Subscription]struct{})
	}
	h.subs[s] = struct{}{}
	return s
}

// publish hands ch to every subscription without blocking; a subscription
// whose buffer is full is dropped with ErrSlowWatcher.
func (h *hub) publish(ch Change) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		select {
		case s.c <- ch:
		default:
			h.dropLocked(s, ErrSlowWatcher)
		}
	}
}

func (h *hub) drop(s *Subscription, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.dropLocked(s, err)
}

func (h *hub) dropLocked(s *Subscription, err error) {
	if _, ok := h.subs[s]; !ok {
		return
	}
	delete(h.subs, s)
	s.err = err
	close(s.c)
}

// closeAll ends every subscription with err.
func (h *hub) closeAll(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for s := range h.subs {
		h.dropLocked(s, err)
	}
}

// sortedInfos returns gws sorted by node id.
func sortedInfos(gws []*pb.GatewayInfo) []*pb.GatewayInfo {
	slices.SortFunc(gws, func(a, b *pb.GatewayInfo) int { return cmp.Compare(a.GetNodeId(), b.GetNodeId()) })
	return gws
}

// validGateway reports whether gw can be stored.
func validGateway(gw *pb.GatewayInfo) bool {
	return gw != nil && gw.GetNodeId() != 0 && gw.GetLanAddr() != ""
}

// removedInfo is what a ChangeRemoved carries: the node id alone.
func removedInfo(nodeID uint64) *pb.GatewayInfo { return &pb.GatewayInfo{NodeId: nodeID} }

// cloneInfo copies gw.
func cloneInfo(gw *pb.GatewayInfo) *pb.GatewayInfo { return proto.CloneOf(gw) }
