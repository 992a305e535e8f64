package register

import (
	"sync"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// MemoryStore is the Store of a single register: the set lives in memory.
// It starts no goroutine of its own; expiry runs on a timer.
type MemoryStore struct {
	mu     sync.Mutex
	leases *leaseTable
	hub    hub
	timer  *time.Timer // fires at armed
	armed  time.Time
	closed bool
}

var _ Store = (*MemoryStore)(nil)

// NewMemoryStore returns an empty MemoryStore.
func NewMemoryStore() *MemoryStore {
	s := &MemoryStore{leases: newLeaseTable()}
	s.timer = time.AfterFunc(time.Hour, s.expire)
	s.timer.Stop()
	return s
}

// Put implements Store.
func (s *MemoryStore) Put(gw *pb.GatewayInfo, ttl time.Duration) error {
	if !validGateway(gw) {
		return ErrInvalidGateway
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	info := s.leases.keep(gw)
	if s.leases.put(info, time.Now().Add(ttl), "") {
		s.hub.publish(Change{Kind: ChangeAdded, Gateway: info})
	}
	s.rearmLocked()
	return nil
}

// Delete implements Store.
func (s *MemoryStore) Delete(nodeID uint64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	if s.leases.remove(nodeID) {
		s.hub.publish(Change{Kind: ChangeRemoved, Gateway: removedInfo(nodeID)})
	}
	s.rearmLocked()
	return nil
}

// Watch implements Store.
func (s *MemoryStore) Watch(buffer int) (*Subscription, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, ErrClosed
	}
	return s.hub.subscribe(s.leases.infos(), buffer), nil
}

// Close implements Store.
func (s *MemoryStore) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.timer.Stop()
	s.hub.closeAll(ErrClosed)
	return nil
}

// expire runs on the timer: it drops expired leases and rearms.
func (s *MemoryStore) expire() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.armed = time.Time{}
	for _, l := range s.leases.expire(time.Now()) {
		s.hub.publish(Change{Kind: ChangeRemoved, Gateway: removedInfo(l.info.GetNodeId())})
	}
	s.rearmLocked()
}

// rearmLocked points the timer at the earliest expiry.
func (s *MemoryStore) rearmLocked() {
	next, ok := s.leases.next()
	if !ok {
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

// protoEqual compares two gateway infos.
func protoEqual(a, b *pb.GatewayInfo) bool { return proto.Equal(a, b) }
