package register

import (
	"container/heap"
	"time"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// lease is one entry of a leaseTable.
type lease struct {
	info    *pb.GatewayInfo
	expires time.Time
	owner   string        // register holding the lease (ClusterStore)
	version int64         // owner's clock at its last change (ClusterStore)
	ttl     time.Duration // lease TTL (ClusterStore: countdown once the owner is gone)
	index   int           // in leaseTable.byExpiry
}

// leaseTable maps node ids to leases and orders them by expiry. It is not
// safe for concurrent use; its store locks it.
type leaseTable struct {
	byID     map[uint64]*lease
	byExpiry leaseHeap
}

func newLeaseTable() *leaseTable { return &leaseTable{byID: make(map[uint64]*lease)} }

// put adds or refreshes the lease of info. It reports whether the set of
// gateways changed (a new node id or different info); info is kept as is.
func (t *leaseTable) put(info *pb.GatewayInfo, expires time.Time, owner string) (changed bool) {
	id := info.GetNodeId()
	if l, ok := t.byID[id]; ok {
		changed = !protoEqual(l.info, info)
		l.info, l.expires, l.owner = info, expires, owner
		heap.Fix(&t.byExpiry, l.index)
		return changed
	}
	l := &lease{info: info, expires: expires, owner: owner}
	t.byID[id] = l
	heap.Push(&t.byExpiry, l)
	return true
}

// keep returns the info to store for gw: the stored one when equal (a
// refresh allocates nothing), else a copy of gw.
func (t *leaseTable) keep(gw *pb.GatewayInfo) *pb.GatewayInfo {
	if l, ok := t.byID[gw.GetNodeId()]; ok && protoEqual(l.info, gw) {
		return l.info
	}
	return cloneInfo(gw)
}

// get returns the lease of id.
func (t *leaseTable) get(id uint64) (*lease, bool) {
	l, ok := t.byID[id]
	return l, ok
}

// setExpiry moves the expiry of l.
func (t *leaseTable) setExpiry(l *lease, expires time.Time) {
	l.expires = expires
	heap.Fix(&t.byExpiry, l.index)
}

// remove drops the lease of id and reports whether there was one.
func (t *leaseTable) remove(id uint64) bool {
	l, ok := t.byID[id]
	if !ok {
		return false
	}
	delete(t.byID, id)
	heap.Remove(&t.byExpiry, l.index)
	return true
}

// expire drops and returns every lease expired at now.
func (t *leaseTable) expire(now time.Time) []*lease {
	var out []*lease
	for len(t.byExpiry) > 0 && !t.byExpiry[0].expires.After(now) {
		l := heap.Pop(&t.byExpiry).(*lease)
		delete(t.byID, l.info.GetNodeId())
		out = append(out, l)
	}
	return out
}

// next returns the earliest expiry.
func (t *leaseTable) next() (time.Time, bool) {
	if len(t.byExpiry) == 0 {
		return time.Time{}, false
	}
	return t.byExpiry[0].expires, true
}

// infos returns the gateways, sorted by node id.
func (t *leaseTable) infos() []*pb.GatewayInfo {
	out := make([]*pb.GatewayInfo, 0, len(t.byID))
	for _, l := range t.byID {
		out = append(out, l.info)
	}
	return sortedInfos(out)
}

// leaseHeap is a min-heap of leases by expiry.
type leaseHeap []*lease

func (h leaseHeap) Len() int           { return len(h) }
func (h leaseHeap) Less(i, j int) bool { return h[i].expires.Before(h[j].expires) }
func (h leaseHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *leaseHeap) Push(x any) {
	l := x.(*lease)
	l.index = len(*h)
	*h = append(*h, l)
}
func (h *leaseHeap) Pop() any {
	old := *h
	l := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	l.index = -1
	return l
}
