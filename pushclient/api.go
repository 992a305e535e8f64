package pushclient

// The API of a Client: one method for each method of businessworker.API,
// with its documentation (TestClientHasEveryAPIMethod checks that none is
// missing).

import (
	"context"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// SendToAll sends m to every client; WithExclude leaves some out, WithClients
// limits it to the listed ones.
func (c *Client) SendToAll(ctx context.Context, m businessworker.Message, opts ...businessworker.SendOption) error {
	return c.api.SendToAll(ctx, m, opts...)
}

// SendToClient sends m to one client.
func (c *Client) SendToClient(ctx context.Context, clientID string, m businessworker.Message) error {
	return c.api.SendToClient(ctx, clientID, m)
}

// SendToUID sends m to every connection bound to uid (all its devices).
func (c *Client) SendToUID(ctx context.Context, uid string, m businessworker.Message) error {
	return c.api.SendToUID(ctx, uid, m)
}

// SendToUIDs sends m to every connection bound to one of uids; a connection
// is sent m once.
func (c *Client) SendToUIDs(ctx context.Context, uids []string, m businessworker.Message) error {
	return c.api.SendToUIDs(ctx, uids, m)
}

// SendToGroup sends m to every member of group; WithExclude leaves some out.
func (c *Client) SendToGroup(ctx context.Context, group string, m businessworker.Message, opts ...businessworker.SendOption) error {
	return c.api.SendToGroup(ctx, group, m, opts...)
}

// SendToGroups sends m to every member of one of groups (a client in several
// of them gets m once); WithExclude leaves some out.
func (c *Client) SendToGroups(ctx context.Context, groups []string, m businessworker.Message, opts ...businessworker.SendOption) error {
	return c.api.SendToGroups(ctx, groups, m, opts...)
}

// JoinGroup adds the client to group.
func (c *Client) JoinGroup(ctx context.Context, clientID, group string) error {
	return c.api.JoinGroup(ctx, clientID, group)
}

// LeaveGroup removes the client from group.
func (c *Client) LeaveGroup(ctx context.Context, clientID, group string) error {
	return c.api.LeaveGroup(ctx, clientID, group)
}

// Ungroup removes every member of group.
func (c *Client) Ungroup(ctx context.Context, group string) error {
	return c.api.Ungroup(ctx, group)
}

// BindUID binds the client to uid; a client has at most one uid, so this
// replaces any earlier binding.
func (c *Client) BindUID(ctx context.Context, clientID, uid string) error {
	return c.api.BindUID(ctx, clientID, uid)
}

// UnbindUID removes the client's binding to uid.
func (c *Client) UnbindUID(ctx context.Context, clientID, uid string) error {
	return c.api.UnbindUID(ctx, clientID, uid)
}

// CloseClient closes the client's connection, after the messages queued for
// it are written unless WithImmediate.
func (c *Client) CloseClient(ctx context.Context, clientID string, opts ...businessworker.CloseOption) error {
	return c.api.CloseClient(ctx, clientID, opts...)
}

// DestroyClient closes the client's connection at once, dropping the
// messages still queued for it (GatewayWorker's destoryClient); it is
// CloseClient with WithImmediate.
func (c *Client) DestroyClient(ctx context.Context, clientID string) error {
	return c.api.DestroyClient(ctx, clientID)
}

// SetSession replaces the client's session.
func (c *Client) SetSession(ctx context.Context, clientID string, session map[string]string) error {
	return c.api.SetSession(ctx, clientID, session)
}

// UpdateSession merges update into the client's session and removes the
// keys in deleteKeys; the other keys keep their values.
func (c *Client) UpdateSession(ctx context.Context, clientID string, update map[string]string, deleteKeys ...string) error {
	return c.api.UpdateSession(ctx, clientID, update, deleteKeys...)
}

// Flush returns once every gateway has applied every command sent through
// this API before the call.
func (c *Client) Flush(ctx context.Context) error {
	return c.api.Flush(ctx)
}

// IsOnline reports whether the client is connected. A client of a gateway
// that is not live is offline (no error).
func (c *Client) IsOnline(ctx context.Context, clientID string) (bool, error) {
	return c.api.IsOnline(ctx, clientID)
}

// Session returns the client's session; ErrClientNotFound if it is not
// connected.
func (c *Client) Session(ctx context.Context, clientID string) (map[string]string, error) {
	return c.api.Session(ctx, clientID)
}

// UID returns the client's uid ("" when unbound);
// ErrClientNotFound if it is not connected.
func (c *Client) UID(ctx context.Context, clientID string) (string, error) {
	return c.api.UID(ctx, clientID)
}

// ClientsByUID returns the clients bound to uid. Like every query over
// all gateways, on error it returns what the gateways that answered said.
func (c *Client) ClientsByUID(ctx context.Context, uid string) ([]string, error) {
	return c.api.ClientsByUID(ctx, uid)
}

// IsUIDOnline reports whether any client is bound to uid.
func (c *Client) IsUIDOnline(ctx context.Context, uid string) (bool, error) {
	return c.api.IsUIDOnline(ctx, uid)
}

// CountClients returns the number of connected clients.
func (c *Client) CountClients(ctx context.Context) (int, error) {
	return c.api.CountClients(ctx)
}

// CountClientsInGroup returns the number of members of group; "" counts
// every client (like GatewayWorker).
func (c *Client) CountClientsInGroup(ctx context.Context, group string) (int, error) {
	return c.api.CountClientsInGroup(ctx, group)
}

// ClientsInGroup returns the members of group.
func (c *Client) ClientsInGroup(ctx context.Context, group string) ([]string, error) {
	return c.api.ClientsInGroup(ctx, group)
}

// UIDsInGroup returns the uids bound to members of group.
func (c *Client) UIDsInGroup(ctx context.Context, group string) ([]string, error) {
	return c.api.UIDsInGroup(ctx, group)
}

// Groups returns every group with at least one member, sorted.
func (c *Client) Groups(ctx context.Context) ([]string, error) {
	return c.api.Groups(ctx)
}

// UIDs returns every bound uid, sorted.
func (c *Client) UIDs(ctx context.Context) ([]string, error) {
	return c.api.UIDs(ctx)
}

// CountUIDs returns the number of distinct bound uids.
func (c *Client) CountUIDs(ctx context.Context) (int, error) {
	return c.api.CountUIDs(ctx)
}

// SessionsInGroup returns the sessions of the members of group, by
// client id.
func (c *Client) SessionsInGroup(ctx context.Context, group string) (map[string]map[string]string, error) {
	return c.api.SessionsInGroup(ctx, group)
}

// AllSessions returns the session of every client, by client id.
func (c *Client) AllSessions(ctx context.Context) (map[string]map[string]string, error) {
	return c.api.AllSessions(ctx)
}

// Clients returns the id of every connected client, sorted.
func (c *Client) Clients(ctx context.Context) ([]string, error) {
	return c.api.Clients(ctx)
}

// CountUIDsInGroup returns the number of distinct uids bound to members of
// group.
func (c *Client) CountUIDsInGroup(ctx context.Context, group string) (int, error) {
	return c.api.CountUIDsInGroup(ctx, group)
}

// AllGroupUIDs returns, for every group, the uids bound to its members
// (sorted; a group whose members are all unbound maps to an empty list).
func (c *Client) AllGroupUIDs(ctx context.Context) (map[string][]string, error) {
	return c.api.AllGroupUIDs(ctx)
}

// AllGroupUIDCounts returns, for every group, the number of distinct uids
// bound to its members (GatewayWorker's getAllGroupUidCount), in one query
// per gateway.
func (c *Client) AllGroupUIDCounts(ctx context.Context) (map[string]int, error) {
	return c.api.AllGroupUIDCounts(ctx)
}

// AllGroupClientCounts returns, for every group with a member, the number
// of its members (GatewayWorker's getAllGroupClientIdCount), in one query
// per gateway without the member lists.
func (c *Client) AllGroupClientCounts(ctx context.Context) (map[string]int, error) {
	return c.api.AllGroupClientCounts(ctx)
}

// AllGroupClients returns, for every group, the ids of its members,
// sorted.
func (c *Client) AllGroupClients(ctx context.Context) (map[string][]string, error) {
	return c.api.AllGroupClients(ctx)
}

// ClientsByUIDs returns the clients bound to each of uids, in one
// query per gateway; every uid asked for is a key (no client: empty list).
func (c *Client) ClientsByUIDs(ctx context.Context, uids []string) (map[string][]string, error) {
	return c.api.ClientsByUIDs(ctx, uids)
}

// UIDsOnline reports, for each of uids, whether any client is bound to it
// (GatewayClient's isUidsOnline in the docs mapping), in one query per gateway.
func (c *Client) UIDsOnline(ctx context.Context, uids []string) (map[string]bool, error) {
	return c.api.UIDsOnline(ctx, uids)
}

// CountClientsInGroups returns the number of members of each of
// groups, in one query per gateway; every group asked for is a key.
func (c *Client) CountClientsInGroups(ctx context.Context, groups []string) (map[string]int, error) {
	return c.api.CountClientsInGroups(ctx, groups)
}

// Stats asks every gateway for its counters (no GatewayWorker counterpart;
// the stats command prints it). On error it returns the gateways that
// answered, sorted by node id.
func (c *Client) Stats(ctx context.Context) ([]businessworker.GatewayStats, error) {
	return c.api.Stats(ctx)
}

// Workers returns the ids of the workers linked to the gateways, as the
// gateways last reported them, sorted (no GatewayWorker counterpart).
func (c *Client) Workers() []string {
	return c.api.Workers()
}
