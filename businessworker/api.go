package businessworker

import (
	"context"
	"errors"
	"maps"
	"slices"
	"strings"

	"github.com/gatewayworker/gatewayworker/internal/apihook"
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// API is what business code calls to act on clients (GatewayWorker's
// Lib\Gateway): sends, groups, uids, sessions and queries. A Worker embeds
// one (New makes it); package pushclient offers the same calls to programs
// that handle no events. Its methods are safe for concurrent use. Calls made
// before the first set of gateways is known wait for it, bounded by ctx.
//
// The zero API (and a nil *API) is not linked to anything: its calls return
// ErrNotInitialized (Workers returns nil) and never panic.
type API struct {
	l *linker.Linker
}

func init() {
	// pushclient builds its API over its own linker through this hook,
	// so no exported constructor takes an internal type.
	apihook.NewAPI = func(l *linker.Linker) any { return &API{l: l} }
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
			errs = append(errs, a.enqueue(ctx, node, sendCmd(s)))
		}
		return errors.Join(errs...)
	}
	return a.enqueueAll(ctx, func(node uint64) *pb.Command {
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
	return a.enqueue(ctx, id.Node, sendCmd(s))
}

// SendToUID sends m to every connection bound to uid (all its devices).
func (a *API) SendToUID(ctx context.Context, uid string, m Message) error {
	return a.SendToUIDs(ctx, []string{uid}, m)
}

// SendToUIDs sends m to every connection bound to one of uids; a connection
// is sent m once.
func (a *API) SendToUIDs(ctx context.Context, uids []string, m Message) error {
	if slices.Contains(uids, "") {
		return ErrEmptyUID
	}
	if len(uids) == 0 {
		return nil
	}
	uids = slices.Clone(uids)
	return a.enqueueAll(ctx, func(uint64) *pb.Command {
		s := newSend(pb.Send_TARGET_UIDS, m)
		s.Uids = uids
		return sendCmd(s)
	})
}

// SendToGroup sends m to every member of group; WithExclude leaves some out.
func (a *API) SendToGroup(ctx context.Context, group string, m Message, opts ...SendOption) error {
	return a.SendToGroups(ctx, []string{group}, m, opts...)
}

// SendToGroups sends m to every member of one of groups (a client in several
// of them gets m once); WithExclude leaves some out.
func (a *API) SendToGroups(ctx context.Context, groups []string, m Message, opts ...SendOption) error {
	if slices.Contains(groups, "") {
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
	if len(groups) == 0 {
		return nil
	}
	groups = slices.Clone(groups)
	return a.enqueueAll(ctx, func(node uint64) *pb.Command {
		s := newSend(pb.Send_TARGET_GROUPS, m)
		s.Groups, s.Exclude = groups, exclude[node]
		return sendCmd(s)
	})
}

// toClient queues a command built for the client's gateway.
func (a *API) toClient(ctx context.Context, clientID string, build func(conn uint64) *pb.Command) error {
	id, err := parseID(clientID)
	if err != nil {
		return err
	}
	return a.enqueue(ctx, id.Node, build(id.Conn))
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
	return a.enqueueAll(ctx, func(uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_Ungroup{Ungroup: &pb.Ungroup{Groups: []string{group}}}}
	})
}

// BindUID binds the client to uid; a client has at most one uid, so this
// replaces any earlier binding.
func (a *API) BindUID(ctx context.Context, clientID, uid string) error {
	if uid == "" {
		return ErrEmptyUID
	}
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: conn, Uid: uid}}}
	})
}

// UnbindUID removes the client's binding to uid.
func (a *API) UnbindUID(ctx context.Context, clientID, uid string) error {
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

// DestroyClient closes the client's connection at once, dropping the
// messages still queued for it (GatewayWorker's destoryClient); it is
// CloseClient with WithImmediate.
func (a *API) DestroyClient(ctx context.Context, clientID string) error {
	return a.CloseClient(ctx, clientID, WithImmediate())
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
// keys in deleteKeys; the other keys keep their values.
func (a *API) UpdateSession(ctx context.Context, clientID string, update map[string]string, deleteKeys ...string) error {
	return a.toClient(ctx, clientID, func(conn uint64) *pb.Command {
		return updateSessionCmd(conn, maps.Clone(update), slices.Clone(deleteKeys))
	})
}

func updateSessionCmd(conn uint64, set map[string]string, del []string) *pb.Command {
	return &pb.Command{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{
		Conn: conn, Session: set, Merge: true, Delete: del,
	}}}
}

// Flush returns once every gateway has applied every command sent through
// this API before the call.
func (a *API) Flush(ctx context.Context) error {
	if a == nil || a.l == nil {
		return ErrNotInitialized
	}
	return exportErr(a.l.Flush(ctx))
}

// queryClient asks the client's gateway about the client.
func (a *API) queryClient(ctx context.Context, clientID string, withSession bool) (*pb.ClientInfo, error) {
	id, err := parseID(clientID)
	if err != nil {
		return nil, err
	}
	res, err := a.query(ctx, []uint64{id.Node}, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS, Conns: []uint64{id.Conn}, WithSession: withSession}
	})
	for _, c := range res.Clients {
		if c.ID == id {
			return c.Info, nil
		}
	}
	if err == nil || notFoundReply(err) {
		return nil, nil
	}
	return nil, err
}

// gatewayNotFound is the text of the gateway's "client not found" error
// (gateway.ErrClientNotFound); a reply carries its error as text only.
const gatewayNotFound = "gateway: client not found"

// notFoundReply reports whether err is one gateway's reply saying the
// client is not found, and nothing else.
func notFoundReply(err error) bool {
	var ge *GatewayError
	if !errors.As(err, &ge) || !errors.Is(ge.Err, ErrGateway) {
		return false
	}
	// A joined error (several gateways) is not just "not found".
	if u, ok := err.(interface{ Unwrap() []error }); ok && len(u.Unwrap()) != 1 {
		return false
	}
	return strings.Contains(ge.Err.Error(), gatewayNotFound)
}

// IsOnline reports whether the client is connected. A client of a gateway
// that is not live is offline (no error).
func (a *API) IsOnline(ctx context.Context, clientID string) (bool, error) {
	id, err := parseID(clientID)
	if err != nil {
		return false, err
	}
	res, err := a.query(ctx, []uint64{id.Node}, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS, Conns: []uint64{id.Conn}, CountOnly: true}
	})
	if errors.Is(err, ErrGatewayNotLinked) {
		return false, nil
	}
	return res.Count > 0, err
}

// Session returns the client's session; ErrClientNotFound if it is not
// connected.
func (a *API) Session(ctx context.Context, clientID string) (map[string]string, error) {
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

// UID returns the client's uid ("" when unbound);
// ErrClientNotFound if it is not connected.
func (a *API) UID(ctx context.Context, clientID string) (string, error) {
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

// ClientsByUID returns the clients bound to uid. Like every query over
// all gateways, on error it returns what the gateways that answered said.
func (a *API) ClientsByUID(ctx context.Context, uid string) ([]string, error) {
	if uid == "" {
		return nil, ErrEmptyUID
	}
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_UIDS, Uids: []string{uid}}
	})
	return idStrings(res.Uids[uid]), err
}

// IsUIDOnline reports whether any client is bound to uid.
func (a *API) IsUIDOnline(ctx context.Context, uid string) (bool, error) {
	ids, err := a.ClientsByUID(ctx, uid)
	return len(ids) > 0, err
}

// CountClients returns the number of connected clients.
func (a *API) CountClients(ctx context.Context) (int, error) {
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS, CountOnly: true}
	})
	return int(res.Count), err
}

// CountClientsInGroup returns the number of members of group; "" counts
// every client (like GatewayWorker).
func (a *API) CountClientsInGroup(ctx context.Context, group string) (int, error) {
	q := &pb.Query{Kind: pb.Query_KIND_CLIENTS, CountOnly: true}
	if group != "" {
		q.Groups = []string{group}
	}
	res, err := a.query(ctx, nil, func(uint64) *pb.Query { return q })
	return int(res.Count), err
}

// ClientsInGroup returns the members of group.
func (a *API) ClientsInGroup(ctx context.Context, group string) ([]string, error) {
	if group == "" {
		return nil, ErrEmptyGroup
	}
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS, Groups: []string{group}, WithMembers: true}
	})
	if g := res.Groups[group]; g != nil {
		return idStrings(g.Members), err
	}
	return nil, err
}

// UIDsInGroup returns the uids bound to members of group.
func (a *API) UIDsInGroup(ctx context.Context, group string) ([]string, error) {
	if group == "" {
		return nil, ErrEmptyGroup
	}
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS, Groups: []string{group}, WithMembers: true}
	})
	if g := res.Groups[group]; g != nil {
		return g.Uids, err
	}
	return nil, err
}

// Groups returns every group with at least one member, sorted.
func (a *API) Groups(ctx context.Context) ([]string, error) {
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS}
	})
	return slices.Sorted(maps.Keys(res.Groups)), err
}

// UIDs returns every bound uid, sorted.
func (a *API) UIDs(ctx context.Context) ([]string, error) {
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_UIDS}
	})
	return slices.Sorted(maps.Keys(res.Uids)), err
}

// CountUIDs returns the number of distinct bound uids.
func (a *API) CountUIDs(ctx context.Context) (int, error) {
	uids, err := a.UIDs(ctx)
	return len(uids), err
}

// SessionsInGroup returns the sessions of the members of group, by
// client id.
func (a *API) SessionsInGroup(ctx context.Context, group string) (map[string]map[string]string, error) {
	if group == "" {
		return nil, ErrEmptyGroup
	}
	return a.sessions(ctx, &pb.Query{Kind: pb.Query_KIND_CLIENTS, Groups: []string{group}, WithSession: true})
}

// AllSessions returns the session of every client, by client id.
func (a *API) AllSessions(ctx context.Context) (map[string]map[string]string, error) {
	return a.sessions(ctx, &pb.Query{Kind: pb.Query_KIND_CLIENTS, WithSession: true})
}

func (a *API) sessions(ctx context.Context, q *pb.Query) (map[string]map[string]string, error) {
	res, err := a.query(ctx, nil, func(uint64) *pb.Query { return q })
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

// Clients returns the id of every connected client, sorted.
func (a *API) Clients(ctx context.Context) ([]string, error) {
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_CLIENTS}
	})
	out := make([]string, len(res.Clients))
	for i, c := range res.Clients {
		out[i] = c.ID.String()
	}
	slices.Sort(out)
	return out, err
}

// CountUIDsInGroup returns the number of distinct uids bound to members of
// group.
func (a *API) CountUIDsInGroup(ctx context.Context, group string) (int, error) {
	uids, err := a.UIDsInGroup(ctx, group)
	return len(uids), err
}

// allGroups asks every gateway for every group with its members.
func (a *API) allGroups(ctx context.Context) (map[string]*linker.GroupResult, error) {
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS, WithMembers: true}
	})
	return res.Groups, err
}

// AllGroupUIDs returns, for every group, the uids bound to its members
// (sorted; a group whose members are all unbound maps to an empty list).
func (a *API) AllGroupUIDs(ctx context.Context) (map[string][]string, error) {
	groups, err := a.allGroups(ctx)
	out := make(map[string][]string, len(groups))
	for name, g := range groups {
		out[name] = append([]string{}, g.Uids...)
	}
	return out, err
}

// AllGroupUIDCounts returns, for every group, the number of distinct uids
// bound to its members (GatewayWorker's getAllGroupUidCount), in one query
// per gateway.
func (a *API) AllGroupUIDCounts(ctx context.Context) (map[string]int, error) {
	groups, err := a.allGroups(ctx)
	out := make(map[string]int, len(groups))
	for name, g := range groups {
		out[name] = len(g.Uids)
	}
	return out, err
}

// AllGroupClientCounts returns, for every group with a member, the number
// of its members (GatewayWorker's getAllGroupClientIdCount), in one query
// per gateway without the member lists.
func (a *API) AllGroupClientCounts(ctx context.Context) (map[string]int, error) {
	res, err := a.query(ctx, nil, func(uint64) *pb.Query {
		return &pb.Query{Kind: pb.Query_KIND_GROUPS}
	})
	out := make(map[string]int, len(res.Groups))
	for name, g := range res.Groups {
		out[name] = int(g.Count)
	}
	return out, err
}

// AllGroupClients returns, for every group, the ids of its members,
// sorted.
func (a *API) AllGroupClients(ctx context.Context) (map[string][]string, error) {
	groups, err := a.allGroups(ctx)
	out := make(map[string][]string, len(groups))
	for name, g := range groups {
		ids := idStrings(g.Members)
		slices.Sort(ids)
		out[name] = ids
	}
	return out, err
}

// ClientsByUIDs returns the clients bound to each of uids, in one
// query per gateway; every uid asked for is a key (no client: empty list).
func (a *API) ClientsByUIDs(ctx context.Context, uids []string) (map[string][]string, error) {
	if slices.Contains(uids, "") {
		return nil, ErrEmptyUID
	}
	out := make(map[string][]string, len(uids))
	if len(uids) == 0 {
		return out, nil
	}
	q := &pb.Query{Kind: pb.Query_KIND_UIDS, Uids: slices.Clone(uids)}
	res, err := a.query(ctx, nil, func(uint64) *pb.Query { return q })
	for _, uid := range uids {
		ids := idStrings(res.Uids[uid])
		slices.Sort(ids)
		out[uid] = ids
	}
	return out, err
}

// UIDsOnline reports, for each of uids, whether any client is bound to it
// (GatewayClient's isUidsOnline in the docs mapping), in one query per gateway.
func (a *API) UIDsOnline(ctx context.Context, uids []string) (map[string]bool, error) {
	ids, err := a.ClientsByUIDs(ctx, uids)
	if ids == nil {
		return nil, err
	}
	out := make(map[string]bool, len(ids))
	for uid, list := range ids {
		out[uid] = len(list) > 0
	}
	return out, err
}

// CountClientsInGroups returns the number of members of each of
// groups, in one query per gateway; every group asked for is a key.
func (a *API) CountClientsInGroups(ctx context.Context, groups []string) (map[string]int, error) {
	if slices.Contains(groups, "") {
		return nil, ErrEmptyGroup
	}
	out := make(map[string]int, len(groups))
	if len(groups) == 0 {
		return out, nil
	}
	q := &pb.Query{Kind: pb.Query_KIND_GROUPS, Groups: slices.Clone(groups)}
	res, err := a.query(ctx, nil, func(uint64) *pb.Query { return q })
	for _, g := range groups {
		if gr := res.Groups[g]; gr != nil {
			out[g] = int(gr.Count)
		} else {
			out[g] = 0
		}
	}
	return out, err
}

// GatewayStats is what one gateway reports about itself.
type GatewayStats struct {
	Node        string `json:"node"` // node id, 16 hex characters
	Name        string `json:"name"`
	LANAddr     string `json:"lan_addr"`    // address of its Link service
	PublicAddr  string `json:"public_addr"` // address clients connect to
	Clients     int    `json:"clients"`
	Groups      int    `json:"groups"`       // groups with a member on this gateway
	UIDs        int    `json:"uids"`         // uids bound on this gateway
	Workers     int    `json:"workers"`      // linked workers
	PushClients int    `json:"push_clients"` // linked push clients (the caller included)
}

// Stats asks every gateway for its counters (no GatewayWorker counterpart;
// the stats command prints it). On error it returns the gateways that
// answered, sorted by node id.
func (a *API) Stats(ctx context.Context) ([]GatewayStats, error) {
	replies, err := a.request(ctx, nil, func(uint64) *pb.Command {
		return &pb.Command{Op: &pb.Command_Query{Query: &pb.Query{Kind: pb.Query_KIND_STATS}}}
	})
	if errors.Is(err, ErrNotInitialized) {
		return nil, err
	}
	infos := make(map[uint64]*pb.GatewayInfo)
	for _, g := range a.l.Gateways() {
		infos[g.GetNodeId()] = g
	}
	out := make([]GatewayStats, 0, len(replies))
	for _, r := range replies {
		st := r.Reply.GetResult().GetStats()
		if st == nil {
			continue
		}
		info := infos[r.Node]
		out = append(out, GatewayStats{
			Node:        clientid.FormatNode(r.Node),
			Name:        info.GetName(),
			LANAddr:     info.GetLanAddr(),
			PublicAddr:  info.GetPublicAddr(),
			Clients:     int(st.GetClients()),
			Groups:      int(st.GetGroups()),
			UIDs:        int(st.GetUids()),
			Workers:     int(st.GetWorkers()),
			PushClients: int(st.GetPushClients()),
		})
	}
	return out, err
}

// Workers returns the ids of the workers linked to the gateways, as the
// gateways last reported them, sorted (no GatewayWorker counterpart).
func (a *API) Workers() []string {
	if a == nil || a.l == nil {
		return nil
	}
	return a.l.Workers()
}
