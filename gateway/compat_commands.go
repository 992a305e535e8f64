package gateway

import (
	"encoding/json"
	"fmt"
	"slices"

	"github.com/gatewayworker/gatewayworker/internal/gwproto"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// cmdName names a GatewayProtocol command in metrics and logs.
func cmdName(cmd uint8) string {
	switch cmd {
	case gwproto.CmdSendToOne:
		return "send_to_one"
	case gwproto.CmdSendToAll:
		return "send_to_all"
	case gwproto.CmdKick:
		return "kick"
	case gwproto.CmdDestroy:
		return "destroy"
	case gwproto.CmdUpdateSession:
		return "update_session"
	case gwproto.CmdGetAllClientSessions:
		return "get_all_client_sessions"
	case gwproto.CmdIsOnline:
		return "is_online"
	case gwproto.CmdBindUID:
		return "bind_uid"
	case gwproto.CmdUnbindUID:
		return "unbind_uid"
	case gwproto.CmdSendToUID:
		return "send_to_uid"
	case gwproto.CmdGetClientIDByUID:
		return "get_client_id_by_uid"
	case gwproto.CmdBatchGetClientIDByUID:
		return "batch_get_client_id_by_uid"
	case gwproto.CmdJoinGroup:
		return "join_group"
	case gwproto.CmdLeaveGroup:
		return "leave_group"
	case gwproto.CmdSendToGroup:
		return "send_to_group"
	case gwproto.CmdGetClientSessionsByGroup:
		return "get_client_sessions_by_group"
	case gwproto.CmdGetClientCountByGroup:
		return "get_client_count_by_group"
	case gwproto.CmdSelect:
		return "select"
	case gwproto.CmdGetGroupIDList:
		return "get_group_id_list"
	case gwproto.CmdUngroup:
		return "ungroup"
	case gwproto.CmdBatchGetClientCountByGroup:
		return "batch_get_client_count_by_group"
	case gwproto.CmdPing:
		return "ping"
	case gwproto.CmdGetSessionByClientID:
		return "get_session_by_client_id"
	case gwproto.CmdSetSession:
		return "set_session"
	}
	return "unknown"
}

// apply runs one request of a GatewayClient or BusinessWorker: a command
// is applied through the same commander as a Go push client's; a query is
// answered from the gateway's state. A malformed request is logged and
// skipped, as GatewayWorker does; only a failed reply write is an error.
func (p *peer) apply(pkt *gwproto.Packet) error {
	x := p.x
	x.requests.WithLabelValues(cmdName(pkt.Cmd)).Inc()
	cmd, reply, err := p.translate(pkt)
	if err != nil {
		p.log.Debug("gatewayworker peer: request skipped", "cmd", cmdName(pkt.Cmd), "err", err)
		return nil
	}
	if cmd != nil {
		if rep := p.cm.apply(cmd); rep != nil && rep.GetError() != "" {
			p.log.Debug("gatewayworker peer: command failed", "cmd", cmdName(pkt.Cmd), "err", rep.GetError())
		}
	}
	if reply == nil {
		return nil
	}
	v, err := reply()
	if err != nil {
		return err
	}
	p.out = p.out[:0]
	p.out = append(p.out, 0, 0, 0, 0)
	if p.out, err = gwproto.Marshal(p.out, v); err != nil {
		return fmt.Errorf("gateway: gatewayworker reply: %w", err)
	}
	n := len(p.out) - 4
	p.out[0], p.out[1], p.out[2], p.out[3] = byte(n>>24), byte(n>>16), byte(n>>8), byte(n)
	if err := p.write(p.out); err != nil {
		x.errors.WithLabelValues("write").Inc()
		return fmt.Errorf("gateway: gatewayworker reply: %w", err)
	}
	return nil
}

// translate maps a request to a command (applied by the commander) or a
// reply (a value to serialize).
func (p *peer) translate(pkt *gwproto.Packet) (*pb.Command, func() (gwproto.Value, error), error) {
	x := p.x
	seq := func() uint64 { return x.seqOf(pkt.ConnectionID) }
	ext := string(pkt.Ext)
	switch pkt.Cmd {
	case gwproto.CmdPing:
		return nil, nil, nil
	case gwproto.CmdSendToOne:
		data, bin, ok := message(pkt)
		if !ok {
			return nil, nil, fmt.Errorf("%w: body is not a scalar", ErrBadCommand)
		}
		return sendCmd(&pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{seq()}, Data: data, Binary: bin}), nil, nil
	case gwproto.CmdSendToAll:
		data, bin, ok := message(pkt)
		if !ok {
			return nil, nil, fmt.Errorf("%w: body is not a scalar", ErrBadCommand)
		}
		s := &pb.Send{Target: pb.Send_TARGET_ALL, Data: data, Binary: bin}
		if len(pkt.Ext) > 0 {
			var e struct {
				Connections json.RawMessage `json:"connections"`
				Exclude     json.RawMessage `json:"exclude"`
			}
			if err := json.Unmarshal(pkt.Ext, &e); err != nil {
				return nil, nil, fmt.Errorf("%w: send_to_all ext_data: %v", ErrBadCommand, err)
			}
			if len(e.Connections) > 0 && string(e.Connections) != "null" {
				ids, err := jsonConnIDs(e.Connections)
				if err != nil {
					return nil, nil, err
				}
				s.Target, s.Conns = pb.Send_TARGET_CLIENTS, x.seqsOf(ids)
			} else {
				ids, err := jsonConnIDs(e.Exclude)
				if err != nil {
					return nil, nil, err
				}
				s.Exclude = x.seqsOf(ids)
			}
		}
		return sendCmd(s), nil, nil
	case gwproto.CmdSendToUID:
		data, bin, ok := message(pkt)
		if !ok {
			return nil, nil, fmt.Errorf("%w: body is not a scalar", ErrBadCommand)
		}
		uids, err := jsonStrings(pkt.Ext)
		if err != nil {
			return nil, nil, err
		}
		return sendCmd(&pb.Send{Target: pb.Send_TARGET_UIDS, Uids: uids, Data: data, Binary: bin}), nil, nil
	case gwproto.CmdSendToGroup:
		data, bin, ok := message(pkt)
		if !ok {
			return nil, nil, fmt.Errorf("%w: body is not a scalar", ErrBadCommand)
		}
		var e struct {
			Group   json.RawMessage `json:"group"`
			Exclude json.RawMessage `json:"exclude"`
		}
		if err := json.Unmarshal(pkt.Ext, &e); err != nil {
			return nil, nil, fmt.Errorf("%w: send_to_group ext_data: %v", ErrBadCommand, err)
		}
		groups, err := jsonStrings(e.Group)
		if err != nil {
			return nil, nil, err
		}
		ids, err := jsonConnIDs(e.Exclude)
		if err != nil {
			return nil, nil, err
		}
		return sendCmd(&pb.Send{Target: pb.Send_TARGET_GROUPS, Groups: groups, Exclude: x.seqsOf(ids), Data: data, Binary: bin}), nil, nil
	case gwproto.CmdKick:
		cc := &pb.CloseClient{Conn: seq()}
		if data, ok := body(pkt); ok && len(data) > 0 {
			cc.Data, cc.HasData = data, true
		}
		return &pb.Command{Op: &pb.Command_CloseClient{CloseClient: cc}}, nil, nil
	case gwproto.CmdDestroy:
		return &pb.Command{Op: &pb.Command_CloseClient{CloseClient: &pb.CloseClient{Conn: seq(), Immediate: true}}}, nil, nil
	case gwproto.CmdBindUID:
		if ext == "" || ext == "0" {
			return nil, nil, fmt.Errorf("%w: empty uid", ErrBadCommand)
		}
		return &pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: seq(), Uid: ext}}}, nil, nil
	case gwproto.CmdUnbindUID:
		// GatewayWorker unbinds whatever uid the client has.
		return &pb.Command{Op: &pb.Command_UnbindUid{UnbindUid: &pb.Uid{Conn: seq()}}}, nil, nil
	case gwproto.CmdJoinGroup, gwproto.CmdLeaveGroup:
		if ext == "" || ext == "0" {
			return nil, nil, fmt.Errorf("%w: empty group", ErrBadCommand)
		}
		g := &pb.Groups{Conn: seq(), Groups: []string{ext}}
		if pkt.Cmd == gwproto.CmdJoinGroup {
			return &pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: g}}, nil, nil
		}
		return &pb.Command{Op: &pb.Command_LeaveGroup{LeaveGroup: g}}, nil, nil
	case gwproto.CmdUngroup:
		if ext == "" || ext == "0" {
			return nil, nil, fmt.Errorf("%w: empty group", ErrBadCommand)
		}
		return &pb.Command{Op: &pb.Command_Ungroup{Ungroup: &pb.Ungroup{Groups: []string{ext}}}}, nil, nil
	case gwproto.CmdSetSession:
		return &pb.Command{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{Conn: seq(), Session: sessionFromPHP(pkt.Ext)}}}, nil, nil
	case gwproto.CmdUpdateSession:
		c := x.g.hub.get(seq())
		if c == nil {
			return nil, nil, nil
		}
		c.mu.Lock()
		cur := c.session
		c.mu.Unlock()
		next := mergePHPSession(cur, pkt.Ext)
		if len(cur) == 0 {
			// GatewayWorker stores the update as it is on an empty session.
			next = sessionFromPHP(pkt.Ext)
		}
		return &pb.Command{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{Conn: seq(), Session: next}}}, nil, nil
	case gwproto.CmdIsOnline:
		return nil, func() (gwproto.Value, error) {
			if c := x.g.hub.get(seq()); c != nil && !c.isClosed() {
				return int64(1), nil
			}
			return int64(0), nil
		}, nil
	case gwproto.CmdGetSessionByClientID:
		return nil, func() (gwproto.Value, error) {
			c := x.g.hub.get(seq())
			if c == nil {
				return nil, nil
			}
			info, ok := c.info(true, false)
			if !ok {
				return nil, nil
			}
			b := phpSession(info.GetSession())
			if len(b) == 0 {
				return gwproto.NewArray(), nil
			}
			return rawReply(b), nil
		}, nil
	case gwproto.CmdGetAllClientSessions, gwproto.CmdGetClientSessionsByGroup:
		return nil, func() (gwproto.Value, error) {
			out := gwproto.NewArray()
			add := func(c *conn) {
				if info, ok := c.info(true, false); ok {
					out.Set(gwproto.IntKey(int64(uint32(c.seq))), string(phpSession(info.GetSession())))
				}
			}
			if pkt.Cmd == gwproto.CmdGetAllClientSessions {
				x.g.hub.forEach(add)
			} else {
				x.g.hub.forGroup(ext, add)
			}
			return out, nil
		}, nil
	case gwproto.CmdGetClientCountByGroup:
		return nil, func() (gwproto.Value, error) {
			if ext == "" {
				return int64(x.g.hub.count()), nil
			}
			n := 0
			x.g.hub.forGroup(ext, func(*conn) { n++ })
			return int64(n), nil
		}, nil
	case gwproto.CmdGetClientIDByUID:
		return nil, func() (gwproto.Value, error) { return x.connIDsOfUID(ext), nil }, nil
	case gwproto.CmdBatchGetClientIDByUID, gwproto.CmdBatchGetClientCountByGroup:
		names, err := jsonStrings(pkt.Ext)
		if err != nil {
			return nil, nil, err
		}
		return nil, func() (gwproto.Value, error) {
			out := gwproto.NewArray()
			for _, name := range names {
				if pkt.Cmd == gwproto.CmdBatchGetClientIDByUID {
					out.Set(gwproto.StrKey(name), x.connIDsOfUID(name))
					continue
				}
				n := 0
				x.g.hub.forGroup(name, func(*conn) { n++ })
				out.Set(gwproto.StrKey(name), int64(n))
			}
			return out, nil
		}, nil
	case gwproto.CmdGetGroupIDList:
		return nil, func() (gwproto.Value, error) {
			out := gwproto.NewArray()
			for _, name := range x.groupNames() {
				out.Append(name)
			}
			return out, nil
		}, nil
	case gwproto.CmdSelect:
		sel, err := parseSelect(pkt.Ext)
		if err != nil {
			return nil, func() (gwproto.Value, error) { return gwproto.NewArray(), nil }, nil
		}
		return nil, func() (gwproto.Value, error) { return x.selectClients(sel), nil }, nil
	default:
		return nil, nil, fmt.Errorf("%w: unknown cmd %d", ErrBadCommand, pkt.Cmd)
	}
}

func sendCmd(s *pb.Send) *pb.Command { return &pb.Command{Op: &pb.Command_Send{Send: s}} }

// rawReply is a reply value that is already serialized (a session).
func rawReply(b []byte) gwproto.Value { return gwproto.Raw(b) }

func (x *compat) seqsOf(ids []uint32) []uint64 {
	if len(ids) == 0 {
		return nil
	}
	out := make([]uint64, len(ids))
	for i, id := range ids {
		out[i] = x.seqOf(id)
	}
	return out
}

// connIDsOfUID lists the connection ids bound to uid.
func (x *compat) connIDsOfUID(uid string) *gwproto.Array {
	out := gwproto.NewArray()
	x.g.hub.forUID(uid, func(c *conn) { out.Append(int64(uint32(c.seq))) })
	return out
}

// groupNames lists every non-empty group.
func (x *compat) groupNames() []string {
	h := &x.g.hub
	var names []string
	for i := range h.groups {
		s := &h.groups[i]
		s.mu.RLock()
		for name := range s.m {
			names = append(names, name)
		}
		s.mu.RUnlock()
	}
	slices.Sort(names)
	return names
}

// selectQuery is CMD_SELECT's ext_data: the fields wanted and the
// clients in any of the listed groups or uids or with the listed
// connection ids (all clients without a where).
type selectQuery struct {
	fields []string
	groups []string
	uids   []string
	conns  []uint32
	all    bool
}

func parseSelect(ext []byte) (selectQuery, error) {
	var q selectQuery
	var raw struct {
		Fields []string                   `json:"fields"`
		Where  map[string]json.RawMessage `json:"where"`
	}
	if err := json.Unmarshal(ext, &raw); err != nil {
		// PHP writes an empty where as [] (a list): accept it as none.
		var alt struct {
			Fields []string `json:"fields"`
		}
		if err2 := json.Unmarshal(ext, &alt); err2 != nil {
			return q, fmt.Errorf("%w: select ext_data: %v", ErrBadCommand, err)
		}
		raw.Fields = alt.Fields
	}
	q.fields = raw.Fields
	q.all = len(raw.Where) == 0
	for k, v := range raw.Where {
		var err error
		switch k {
		case "groups":
			q.groups, err = jsonStrings(v)
		case "uid":
			q.uids, err = jsonStrings(v)
		case "connection_id":
			q.conns, err = jsonConnIDs(v)
		default:
			err = fmt.Errorf("%w: select where %q", ErrBadCommand, k)
		}
		if err != nil {
			return q, err
		}
	}
	return q, nil
}

// selectClients answers CMD_SELECT: [connection_id => [field => value]].
func (x *compat) selectClients(q selectQuery) *gwproto.Array {
	h := &x.g.hub
	out := gwproto.NewArray()
	add := func(c *conn) {
		key := gwproto.IntKey(int64(uint32(c.seq)))
		if _, dup := out.Get(key); dup {
			return
		}
		info, ok := c.info(true, true)
		if !ok {
			return
		}
		row := gwproto.NewArray()
		for _, f := range q.fields {
			var v gwproto.Value
			switch f {
			case "uid":
				if info.GetUid() != "" {
					v = info.GetUid()
				}
			case "groups":
				if len(info.GetGroups()) > 0 {
					g := gwproto.NewArray()
					for _, name := range info.GetGroups() {
						g.Set(gwproto.StrKey(name), name)
					}
					v = g
				}
			case "session":
				v = string(phpSession(info.GetSession()))
			}
			row.Set(gwproto.StrKey(f), v)
		}
		out.Set(key, row)
	}
	if q.all {
		h.forEach(add)
		return out
	}
	// Collect first: add takes c.mu, which must not be taken under an
	// index lock held by forGroup/forUID (lock order).
	var found []*conn
	collect := func(c *conn) { found = append(found, c) }
	for _, name := range q.groups {
		h.forGroup(name, collect)
	}
	for _, uid := range q.uids {
		h.forUID(uid, collect)
	}
	for _, id := range q.conns {
		if c := h.get(x.seqOf(id)); c != nil {
			found = append(found, c)
		}
	}
	for _, c := range found {
		add(c)
	}
	return out
}
