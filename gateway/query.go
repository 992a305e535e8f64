package gateway

import (
	"fmt"
	"slices"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// query answers a Query from the gateway's state.
func (cm *commander) query(q *pb.Query) *pb.Reply {
	switch q.GetKind() {
	case pb.Query_KIND_CLIENTS:
		return cm.queryClients(q)
	case pb.Query_KIND_GROUPS:
		return &pb.Reply{Result: cm.queryGroups(q)}
	case pb.Query_KIND_UIDS:
		return &pb.Reply{Result: cm.queryUids(q)}
	case pb.Query_KIND_STATS:
		st := cm.g.Stats()
		return &pb.Reply{Result: &pb.QueryResult{Count: 1, Stats: &pb.Stats{
			Clients:     uint64(st.Clients),
			Groups:      uint64(st.Groups),
			Uids:        uint64(st.UIDs),
			Workers:     uint64(st.Workers),
			PushClients: uint64(st.PushClients),
		}}}
	default:
		return errReply(fmt.Errorf("%w: query kind %v", ErrBadCommand, q.GetKind()))
	}
}

// queryClients lists the clients matching any filter (all clients when no
// filter is set). When the result is a list (not count_only) and a conn
// listed in the filter is unknown, the reply carries ErrClientNotFound
// along with the clients that were found.
func (cm *commander) queryClients(q *pb.Query) *pb.Reply {
	h := &cm.g.hub
	var found []*conn
	var missing uint64
	if len(q.GetConns()) == 0 && len(q.GetUids()) == 0 && len(q.GetGroups()) == 0 {
		h.forEach(func(c *conn) { found = append(found, c) })
	} else {
		seen := make(map[*conn]struct{})
		add := func(c *conn) {
			if _, dup := seen[c]; !dup {
				seen[c] = struct{}{}
				found = append(found, c)
			}
		}
		for _, seq := range q.GetConns() {
			if c := h.get(seq); c != nil {
				add(c)
			} else if missing == 0 {
				missing = seq
			}
		}
		for _, uid := range q.GetUids() {
			h.forUID(uid, add)
		}
		for _, name := range q.GetGroups() {
			h.forGroup(name, add)
		}
	}
	res := &pb.QueryResult{}
	for _, c := range found {
		info, ok := c.info(q.GetWithSession(), q.GetWithMembers())
		if !ok {
			continue
		}
		res.Count++
		if !q.GetCountOnly() {
			res.Clients = append(res.Clients, info)
		}
	}
	rep := &pb.Reply{Result: res}
	if missing != 0 && !q.GetCountOnly() {
		rep.Error = fmt.Errorf("%w: conn %d", ErrClientNotFound, missing).Error()
	}
	return rep
}

// info describes c; false if it is closed.
func (c *conn) info(session, groups bool) (*pb.ClientInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return nil, false
	}
	ci := &pb.ClientInfo{Conn: c.seq, Uid: c.uid, RemoteAddr: c.remoteAddr()}
	if session {
		ci.Session = c.session // never modified in place
	}
	if groups && len(c.groups) > 0 {
		ci.Groups = slices.Clone(c.groups)
	}
	return ci, true
}

// queryGroups lists the named groups that exist, or all groups.
func (cm *commander) queryGroups(q *pb.Query) *pb.QueryResult {
	h := &cm.g.hub
	res := &pb.QueryResult{}
	visit := func(name string, members map[*conn]struct{}) {
		res.Count++
		if q.GetCountOnly() {
			return
		}
		gi := &pb.GroupInfo{Name: name, Count: uint64(len(members))}
		if q.GetWithMembers() {
			uids := make(map[string]struct{})
			for c := range members {
				gi.Conns = append(gi.Conns, c.seq)
				c.mu.Lock()
				uid := c.uid
				c.mu.Unlock()
				if _, dup := uids[uid]; uid != "" && !dup {
					uids[uid] = struct{}{}
					gi.Uids = append(gi.Uids, uid)
				}
			}
			slices.Sort(gi.Conns)
			slices.Sort(gi.Uids)
		}
		res.Groups = append(res.Groups, gi)
	}
	if len(q.GetGroups()) == 0 {
		for i := range h.groups {
			s := &h.groups[i]
			s.mu.RLock()
			for name, members := range s.m {
				visit(name, members)
			}
			s.mu.RUnlock()
		}
		return res
	}
	for _, name := range slices.Compact(slices.Sorted(slices.Values(q.GetGroups()))) {
		s := &h.groups[h.indexShard(name)]
		s.mu.RLock()
		if members, ok := s.m[name]; ok {
			visit(name, members)
		}
		s.mu.RUnlock()
	}
	return res
}

// queryUids lists the named uids that are bound, or all uids.
func (cm *commander) queryUids(q *pb.Query) *pb.QueryResult {
	h := &cm.g.hub
	res := &pb.QueryResult{}
	visit := func(uid string, conns []*conn) {
		res.Count++
		if q.GetCountOnly() {
			return
		}
		ui := &pb.UidInfo{Uid: uid, Conns: make([]uint64, len(conns))}
		for i, c := range conns {
			ui.Conns[i] = c.seq
		}
		slices.Sort(ui.Conns)
		res.Uids = append(res.Uids, ui)
	}
	if len(q.GetUids()) == 0 {
		for i := range h.uids {
			s := &h.uids[i]
			s.mu.RLock()
			for uid, conns := range s.m {
				visit(uid, conns)
			}
			s.mu.RUnlock()
		}
		return res
	}
	for _, uid := range slices.Compact(slices.Sorted(slices.Values(q.GetUids()))) {
		s := &h.uids[h.indexShard(uid)]
		s.mu.RLock()
		if conns, ok := s.m[uid]; ok {
			visit(uid, conns)
		}
		s.mu.RUnlock()
	}
	return res
}
