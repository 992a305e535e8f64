package gateway

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"
)

const (
	connShards  = 64 // by connection sequence
	indexShards = 32 // by group or uid name
)

// hub holds the clients and the group and uid indexes, each sharded with
// its own locks (see doc.go for the lock order).
type hub struct {
	// compressed counts the clients that negotiated permessage-deflate.
	compressed atomic.Int64
	seed       maphash.Seed
	conns      [connShards]connShard
	groups     [indexShards]groupShard
	uids       [indexShards]uidShard
}

type connShard struct {
	mu sync.RWMutex
	m  map[uint64]*conn
	_  [40]byte // keep shards on separate cache lines
}

type groupShard struct {
	mu sync.RWMutex
	m  map[string]map[*conn]struct{}
}

type uidShard struct {
	mu sync.RWMutex
	m  map[string][]*conn
}

func (h *hub) init() {
	h.seed = maphash.MakeSeed()
	for i := range h.conns {
		h.conns[i].m = make(map[uint64]*conn)
	}
	for i := range h.groups {
		h.groups[i].m = make(map[string]map[*conn]struct{})
		h.uids[i].m = make(map[string][]*conn)
	}
}

func (h *hub) connShard(seq uint64) *connShard { return &h.conns[seq%connShards] }

func (h *hub) indexShard(name string) int {
	return int(maphash.String(h.seed, name) % indexShards)
}

func (h *hub) add(c *conn) {
	if c.deflated() {
		h.compressed.Add(1)
	}
	s := h.connShard(c.seq)
	s.mu.Lock()
	s.m[c.seq] = c
	s.mu.Unlock()
}

// get returns the client with sequence seq, or nil.
func (h *hub) get(seq uint64) *conn {
	s := h.connShard(seq)
	s.mu.RLock()
	c := s.m[seq]
	s.mu.RUnlock()
	return c
}

// remove drops a closed client from the hub and the indexes. Its uid and
// groups no longer change once it is closed.
func (h *hub) remove(c *conn) {
	for _, name := range c.groups {
		s := &h.groups[h.indexShard(name)]
		s.mu.Lock()
		if set := s.m[name]; set != nil {
			delete(set, c)
			if len(set) == 0 {
				delete(s.m, name)
			}
		}
		s.mu.Unlock()
	}
	if c.uid != "" {
		s := &h.uids[h.indexShard(c.uid)]
		s.mu.Lock()
		s.removeLocked(c.uid, c)
		s.mu.Unlock()
	}
	s := h.connShard(c.seq)
	s.mu.Lock()
	delete(s.m, c.seq)
	s.mu.Unlock()
	if c.deflated() {
		h.compressed.Add(-1)
	}
}

// count returns the number of clients.
func (h *hub) count() int {
	n := 0
	for i := range h.conns {
		s := &h.conns[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

// forEach calls fn for every client, holding one shard's read lock at a
// time: fn must not call finish or take a hub lock.
func (h *hub) forEach(fn func(c *conn)) {
	for i := range h.conns {
		s := &h.conns[i]
		s.mu.RLock()
		for _, c := range s.m {
			fn(c)
		}
		s.mu.RUnlock()
	}
}

// snapshot returns every client (for shutdown and fallbacks).
func (h *hub) snapshot() []*conn {
	var out []*conn
	h.forEach(func(c *conn) { out = append(out, c) })
	return out
}

// join adds c to group name; false if c is closed.
func (h *hub) join(c *conn, name string) bool {
	s := &h.groups[h.indexShard(name)]
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return false
	}
	if slices.Contains(c.groups, name) {
		return true
	}
	c.groups = append(c.groups, name)
	set := s.m[name]
	if set == nil {
		set = make(map[*conn]struct{})
		s.m[name] = set
	}
	set[c] = struct{}{}
	return true
}

// leave removes c from group name; false if c is closed.
func (h *hub) leave(c *conn, name string) bool {
	s := &h.groups[h.indexShard(name)]
	s.mu.Lock()
	defer s.mu.Unlock()
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return false
	}
	i := slices.Index(c.groups, name)
	if i < 0 {
		return true
	}
	c.groups = slices.Delete(c.groups, i, i+1)
	if set := s.m[name]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(s.m, name)
		}
	}
	return true
}

// ungroup dissolves group name.
func (h *hub) ungroup(name string) {
	s := &h.groups[h.indexShard(name)]
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.m[name] {
		c.mu.Lock()
		// A closed client's groups are read by remove without c.mu.
		if i := slices.Index(c.groups, name); i >= 0 && c.state != stateClosed {
			c.groups = slices.Delete(c.groups, i, i+1)
		}
		c.mu.Unlock()
	}
	delete(s.m, name)
}

// forGroup calls fn for every member of group name under the shard's read
// lock.
func (h *hub) forGroup(name string, fn func(c *conn)) {
	s := &h.groups[h.indexShard(name)]
	s.mu.RLock()
	for c := range s.m[name] {
		fn(c)
	}
	s.mu.RUnlock()
}

// forUID calls fn for every connection bound to uid under the shard's read
// lock.
func (h *hub) forUID(uid string, fn func(c *conn)) {
	s := &h.uids[h.indexShard(uid)]
	s.mu.RLock()
	for _, c := range s.m[uid] {
		fn(c)
	}
	s.mu.RUnlock()
}

// setUID binds c to uid, replacing its previous uid ("" unbinds). If only
// is not empty, c is changed only while bound to only (unbind of a given
// uid). It returns false if c is closed.
func (h *hub) setUID(c *conn, uid, only string) bool {
	for {
		c.mu.Lock()
		old, closed := c.uid, c.state == stateClosed
		c.mu.Unlock()
		switch {
		case closed:
			return false
		case old == uid, only != "" && old != only:
			return true
		}
		// Lock the shards of the old and new uid in ascending order.
		a, b := -1, -1
		if old != "" {
			a = h.indexShard(old)
		}
		if uid != "" {
			b = h.indexShard(uid)
		}
		if a > b {
			a, b = b, a
		}
		if a >= 0 && a != b {
			h.uids[a].mu.Lock()
		}
		h.uids[b].mu.Lock()
		c.mu.Lock()
		ok := c.uid == old && c.state != stateClosed
		if ok {
			if old != "" {
				h.uids[h.indexShard(old)].removeLocked(old, c)
			}
			if uid != "" {
				s := &h.uids[h.indexShard(uid)]
				s.m[uid] = append(s.m[uid], c)
			}
			c.uid = uid
		}
		c.mu.Unlock()
		h.uids[b].mu.Unlock()
		if a >= 0 && a != b {
			h.uids[a].mu.Unlock()
		}
		if ok {
			return true
		}
	}
}

func (s *uidShard) removeLocked(uid string, c *conn) {
	list := s.m[uid]
	if i := slices.Index(list, c); i >= 0 {
		list = slices.Delete(list, i, i+1)
	}
	if len(list) == 0 {
		delete(s.m, uid)
	} else {
		s.m[uid] = list
	}
}

// groupCount and uidCount return the number of non-empty groups and uids.
func (h *hub) groupCount() int {
	n := 0
	for i := range h.groups {
		s := &h.groups[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}

func (h *hub) uidCount() int {
	n := 0
	for i := range h.uids {
		s := &h.uids[i]
		s.mu.RLock()
		n += len(s.m)
		s.mu.RUnlock()
	}
	return n
}
