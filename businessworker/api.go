package businessworker

import (
	"context"
	"errors"
	"maps"
	"slices"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// API is what business code calls to act on clients; it is embedded in
// Worker and PushClient. Its methods are safe for concurrent use. Calls made
// before the first set of gateways is known wait for it, bounded by ctx.
type API struct {
	l *linker.Linker
}

func sendCmd(s *pb.Send) *pb.Command { return &pb.Command{Op: &pb.Command_Send{Send: s}} }

func newSend(target pb.Send_Target, m Message) *pb.Send {
	return &pb.Send{Target: target, Data: m.Data, Binary: m.Binary}
}

// SendToAll sends m to every client; WithExclude leaves some out, WithClients
// limits it to the listed ones.
func (a *API) SendToAll(ctx context.Context, m Message, opts ...SendOption) error {
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	exclude, err := byNode(o.exclude)
	if err != nil {
		return err
	}
	if o.hasClients {
		only, err := byNode(o.clients)
		if err != nil {
			return err
		}
		var errs []error
		for _, node := range slices.Sorted(maps.Keys(only)) {
			s := newSend(pb.Send_TARGET_CLIENTS, m)
			s.Conns, s.Exclude = only[node], exclude[node]
			errs = append(errs, a.l.Enqueue(ctx, node, sendCmd(s)))
		}
		return errors.Join(errs...)
	}
	return a.l.EnqueueAll(ctx, func(node uint64) *pb.Command {
		s := newSend(pb.Send_TARGET_ALL, m)
		s.Exclude = exclude[node]
		return sendCmd(s)
	})
}

// SendToClient sends m to one client.
func (a *API) SendToClient(ctx context.Context, clientID string, m Message) error {
	id, err := parseID(clientID)
	if err != nil {
		return err
	}
	s := newSend(pb.Send_TARGET_CLIENTS, m)
	s.Conns = []uint64{id.Conn}
	return a.l.Enqueue(ctx, id.Node, sendCmd(s))
}

// SendToUid sends m to every connection bound to uid (all its devices).
func (a *API) SendToUid(ctx context.Context, uid string, m Message) error {
	if uid == "" {
		return ErrEmptyUID
	}
	return a.l.EnqueueAll(ctx, func(uint64) *pb.Command {
		s := newSend(pb.Send_TARGET_UIDS, m)
		s.Uids = []string{uid}
		return sendCmd(s)
	})
}

// SendToGroup sends m to every member of group; WithExclude leaves some out.
func (a *API) SendToGroup(ctx context.Context, group string, m Message, opts ...SendOption) error {
	if group == "" {
		return ErrEmptyGroup
	}
	var o sendOptions
	for _, opt := range opts {
		opt(&o)
	}
	if o.hasClients {
		return ErrInvalidOption
	}
	exclude, err := byNode(o.exclude)
	if err != nil {
		return err
	}
	return a.l.EnqueueAll(ctx, func(node uint64) *pb.Command {
		s := newSend(pb.Send_TARGET_GROUPS, m)
		s.Groups, s.Exclude = []string{group}, exclude[node]
		return sendCmd(s)
	})
}

// toClient queues a command built for the client's gateway.
func (a *API) toClient(ctx context.Context, clientID string, build func(conn uint64) *pb.Command) error {
	id, err := parseID(clientID)
	if err != nil {
		return err
	}
	return a.l.Enqueue(ctx, id.Node, build(id.Conn))
}

// JoinGroup adds the client to group.
func (a *API) JoinGroup(ctx context.Context, clientID, group string) error {
	if group == "" {
		return ErrEmptyGroup
	}
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: conn, Groups: []string{group}}}}
	})
}

// LeaveGroup removes the client from group.
func (a *API) LeaveGroup(ctx context.Context, clientID, group string) error {
	if group == "" {
		return ErrEmptyGroup
	}
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_LeaveGroup{LeaveGroup: &pb.Groups{Conn: conn, Groups: []string{group}}}}
	})
}

// Ungroup removes every member of group.
func (a *API) Ungroup(ctx context.Context, group string) error {
	if group == "" {
		return ErrEmptyGroup
	}
	return a.l.EnqueueAll(ctx, func(uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_Ungroup{Ungroup: &pb.Ungroup{Groups: []string{group}}}}
	})
}

// BindUid binds the client to uid; a client has at most one uid, so this
// replaces any earlier binding.
func (a *API) BindUid(ctx context.Context, clientID, uid string) error {
	if uid == "" {
		return ErrEmptyUID
	}
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: conn, Uid: uid}}}
	})
}

// UnbindUid removes the client's binding to uid.
func (a *API) UnbindUid(ctx context.Context, clientID, uid string) error {
	if uid == "" {
		return ErrEmptyUID
	}
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_UnbindUid{UnbindUid: &pb.Uid{Conn: conn, Uid: uid}}}
	})
}

// CloseClient closes the client's connection, after the messages queued for
// it are written unless WithImmediate.
func (a *API) CloseClient(ctx context.Context, clientID string, opts ...CloseOption) error {
	var o closeOptions
	for _, opt := range opts {
		opt(&o)
	}
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		cc := &pb.CloseClient{Conn: conn, Immediate: o.immediate, Code: o.code, Reason: o.reason}
		if o.last != nil {
			cc.HasData, cc.Data, cc.Binary = true, o.last.Data, o.last.Binary
		}
		return &pb.Command{Op: &pb.Command_CloseClient{CloseClient: cc}}
	})
}

// SetSession replaces the client's session.
func (a *API) SetSession(ctx context.Context, clientID string, session map[string]string) error {
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return setSessionCmd(conn, maps.Clone(session))
	})
}

func setSessionCmd(conn uint64, session map[string]string) *pb.Command {
	return &pb.Command{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{Conn: conn, Session: session}}}
}

// UpdateSession merges update into the client's session and removes the
// keys in deleteKeys.
func (a *API) UpdateSession(ctx context.Context, clientID string, update map[string]string, deleteKeys ...string) error {
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{
			Conn: conn, Session: maps.Clone(update), Merge: true, Delete: slices.Clone(deleteKeys),
		}}}
	})
}

// Flush returns once every gateway has applied every command sent through
// this API before the call.
func (a *API) Flush(ctx context.Context) error { return a.l.Flush(ctx) }

// queryClient asks the client's gateway about the client.
func (a *API) queryClient(ctx context.Context, clientID string, withSession bool) (*pb.ClientInfo, error) {
	id, err := parseID(clientID)
	if err != nil {
		return nil, err
	}
	res, err := a.l.Query(ctx, []uint64{id.Node}, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS, Conns: []uint64{id.Conn}, WithSession: withSession}
	})
	// The one error a gateway gives to a query for one conn is "client not
	// found"; the reply carries no code to tell it from others.
	if err != nil && !errors.Is(err, ErrGateway) {
		return nil, err
	}
	for _, c := range res.Clients {
		if c.ID == id {
			return c.Info, nil
		}
	}
	return nil, nil
}

// IsOnline reports whether the client is connected. A client of a gateway
// that is not live is offline (no error).
func (a *API) IsOnline(ctx context.Context, clientID string) (bool, error) {
	id, err := parseID(clientID)
	if err != nil {
		return false, err
	}
	res, err := a.l.Query(ctx, []uint64{id.Node}, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS, Conns: []uint64{id.Conn}, CountOnly: true}
	})
	if errors.Is(err, ErrGatewayNotLinked) {
		return false, nil
	}
	return res.Count > 0, err
}

// GetSession returns the client's session; ErrClientNotFound if it is not
// connected.
func (a *API) GetSession(ctx context.Context, clientID string) (map[string]string, error) {
	info, err := a.queryClient(ctx, clientID, true)
	if err != nil {
		return nil, err
	}
	if info == nil {
		return nil, ErrClientNotFound
	}
	s := info.GetSession()
	if s == nil {
		s = map[string]string{}
	}
	return s, nil
}

// GetUidByClientId returns the client's uid ("" when unbound);
// ErrClientNotFound if it is not connected.
func (a *API) GetUidByClientId(ctx context.Context, clientID string) (string, error) {
	info, err := a.queryClient(ctx, clientID, false)
	if err != nil {
		return "", err
	}
	if info == nil {
		return "", ErrClientNotFound
	}
	return info.GetUid(), nil
}

func idStrings(ids []clientid.ID) []string {
	out := make([]string, len(ids))
	for i, id := range ids {
		out[i] = id.String()
	}
	return out
}

// GetClientIdByUid returns the clients bound to uid. Like every query over
// all gateways, on error it returns what the gateways that answered said.
func (a *API) GetClientIdByUid(ctx context.Context, uid string) ([]string, error) {
	if uid == "" {
		return nil, ErrEmptyUID
	}
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_UIDS, Uids: []string{uid}}
	})
	return idStrings(res.Uids[uid]), err
}

// IsUidOnline reports whether any client is bound to uid.
func (a *API) IsUidOnline(ctx context.Context, uid string) (bool, error) {
	ids, err := a.GetClientIdByUid(ctx, uid)
	return len(ids) > 0, err
}

// GetAllClientIdCount returns the number of connected clients.
func (a *API) GetAllClientIdCount(ctx context.Context) (int, error) {
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS, CountOnly: true}
	})
	return int(res.Count), err
}

// GetClientCountByGroup returns the number of members of group.
func (a *API) GetClientCountByGroup(ctx context.Context, group string) (int, error) {
	if group == "" {
		return 0, ErrEmptyGroup
	}
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS, Groups: []string{group}, CountOnly: true}
	})
	return int(res.Count), err
}

// GetClientIdListByGroup returns the members of group.
func (a *API) GetClientIdListByGroup(ctx context.Context, group string) ([]string, error) {
	if group == "" {
		return nil, ErrEmptyGroup
	}
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS, Groups: []string{group}, WithMembers: true}
	})
	if g := res.Groups[group]; g != nil {
		return idStrings(g.Members), err
	}
	return nil, err
}

// GetUidListByGroup returns the uids bound to members of group.
func (a *API) GetUidListByGroup(ctx context.Context, group string) ([]string, error) {
	if group == "" {
		return nil, ErrEmptyGroup
	}
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS, Groups: []string{group}, WithMembers: true}
	})
	if g := res.Groups[group]; g != nil {
		return g.Uids, err
	}
	return nil, err
}

// GetAllGroupIdList returns every group with at least one member, sorted.
func (a *API) GetAllGroupIdList(ctx context.Context) ([]string, error) {
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS}
	})
	return slices.Sorted(maps.Keys(res.Groups)), err
}

// GetAllUidList returns every bound uid, sorted.
func (a *API) GetAllUidList(ctx context.Context) ([]string, error) {
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_UIDS}
	})
	return slices.Sorted(maps.Keys(res.Uids)), err
}

// GetAllUidCount returns the number of distinct bound uids.
func (a *API) GetAllUidCount(ctx context.Context) (int, error) {
	uids, err := a.GetAllUidList(ctx)
	return len(uids), err
}

// GetClientSessionsByGroup returns the sessions of the members of group, by
// client id.
func (a *API) GetClientSessionsByGroup(ctx context.Context, group string) (map[string]map[string]string, error) {
	if group == "" {
		return nil, ErrEmptyGroup
	}
	return a.sessions(ctx, &pb.Query{Kind: pb.Query_KIND_CLIENTS, Groups: []string{group}, WithSession: true})
}

// GetAllClientSessions returns the session of every client, by client id.
func (a *API) GetAllClientSessions(ctx context.Context) (map[string]map[string]string, error) {
	return a.sessions(ctx, &pb.Query{Kind: pb.Query_KIND_CLIENTS, WithSession: true})
}

func (a *API) sessions(ctx context.Context, q *pb.Query) (map[string]map[string]string, error) {
	res, err := a.l.Query(ctx, nil, func(uint64) *pb.Query { return q })
	out := make(map[string]map[string]string, len(res.Clients))
	for _, c := range res.Clients {
		s := c.Info.GetSession()
		if s == nil {
			s = map[string]string{}
		}
		out[c.ID.String()] = s
	}
	return out, err
}
