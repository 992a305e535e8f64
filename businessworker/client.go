package businessworker

import (
	"context"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Client is the client whose event is being handled. It is valid during the
// handler call only; keep ID() to address the client later. The worker makes
// one per event; a zero Client has empty fields, and its Send and Close
// return ErrNotInitialized.
type Client struct {
	w      *Worker
	id     clientid.ID
	idStr  string
	remote string
	uid    string

	base    map[string]string // the session as of the event (not modified)
	version uint64            // the session version base stands for
	session map[string]string // the handler's copy, nil until Session is called
}

// ID returns the client id, 32 hex characters.
func (c *Client) ID() string { return c.idStr }

// Gateway returns the node id of the client's gateway, 16 hex characters.
func (c *Client) Gateway() string { return clientid.FormatNode(c.id.Node) }

// RemoteAddr returns the client's address as the gateway saw it. It is ""
// when this worker did not handle the client's connect event (the client was
// handed over from a worker that stopped).
func (c *Client) RemoteAddr() string { return c.remote }

// UID returns the uid the client was bound to when the event was sent, or "".
func (c *Client) UID() string { return c.uid }

// Session returns the client's session as of the event. The map belongs to
// the handler call. When the handler returns (not after OnClose: the client
// is gone), the keys it set and the keys it deleted are written back to the
// gateway, which merges them into the session by key: keys the API or a push
// client changed meanwhile and the handler did not touch keep their new
// values. Later events of the client on this worker see the handler's
// changes (docs/concepts.md, "Sessions", says exactly when).
func (c *Client) Session() map[string]string {
	if c.session == nil {
		c.session = maps.Clone(c.base)
		if c.session == nil {
			c.session = make(map[string]string)
		}
	}
	return c.session
}

// Worker returns the worker handling the event, for the rest of the API
// (e.g. c.Worker().JoinGroup(ctx, c.ID(), "room")).
func (c *Client) Worker() *Worker { return c.w }

// Send sends m to this client (GatewayWorker's sendToCurrentClient).
func (c *Client) Send(ctx context.Context, m Message) error {
	if c.w == nil {
		return ErrNotInitialized
	}
	return c.w.SendToClient(ctx, c.idStr, m)
}

// Close closes this client's connection (see API.CloseClient).
func (c *Client) Close(ctx context.Context, opts ...CloseOption) error {
	if c.w == nil {
		return ErrNotInitialized
	}
	return c.w.CloseClient(ctx, c.idStr, opts...)
}

// changes returns the keys the handler set (new or changed) and deleted
// (sorted), comparing its copy of the session with the event's.
func (c *Client) changes() (set map[string]string, del []string) {
	if c.session == nil {
		return nil, nil
	}
	for k, v := range c.session {
		if old, ok := c.base[k]; !ok || old != v {
			if set == nil {
				set = make(map[string]string)
			}
			set[k] = v
		}
	}
	for k := range c.base {
		if _, ok := c.session[k]; !ok {
			del = append(del, k)
		}
	}
	slices.Sort(del)
	return set, del
}

// sessionWrite is a session change written back by a handler that the
// gateway may not have applied yet.
type sessionWrite struct {
	set map[string]string
	del []string
	// version is the session version the gateway has once it applied the
	// change, counting the change and this worker's earlier ones only.
	version uint64
	at      time.Time // when it was queued
}

func (sw *sessionWrite) applyTo(session map[string]string) {
	maps.Copy(session, sw.set)
	for _, k := range sw.del {
		delete(session, k)
	}
}

// clientState is what a worker remembers about a client between its events.
type clientState struct {
	remote string
	seen   time.Time // when the client's last event began
	// Changes written back and not yet seen applied, oldest first.
	writes []sessionWrite
}

// clientStates is the per-client memory of a worker. An entry is made by a
// connect event or a session write-back and dropped by the client's close
// event, or by sweep (its gateway left, the gateway routes the client to
// another worker, or it was idle for Config.ClientIdleTimeout).
type clientStates struct {
	// maxAge is Config.MaxQueueAge: a change queued longer ago was applied
	// or dropped unsent, and is no longer laid over events.
	maxAge time.Duration
	mu     sync.Mutex
	m      map[clientid.ID]*clientState
}

// begin returns the remote address and the session the event should see,
// with the version it stands for: the event's session with the changes this
// worker wrote back that the gateway had not applied when it read the event
// laid over it.
func (s *clientStates) begin(id clientid.ID, ev *pb.Event, now time.Time) (remote string, session map[string]string, version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[id]
	if c := ev.GetConnect(); c != nil {
		if st == nil {
			st = &clientState{}
			s.m[id] = st
		}
		st.remote = c.GetRemoteAddr()
	}
	session, version = ev.GetSession(), ev.GetSessionVersion()
	if st == nil {
		return "", session, version
	}
	st.seen = now
	// Versions only grow: a change is applied once the gateway's version
	// reached the one it leads to.
	n := 0
	for n < len(st.writes) && (st.writes[n].version <= version || now.Sub(st.writes[n].at) > s.maxAge) {
		n++
	}
	if n > 0 {
		clear(st.writes[:n])
		st.writes = st.writes[n:]
		if len(st.writes) == 0 {
			st.writes = nil
		}
	}
	if len(st.writes) == 0 {
		return st.remote, session, version
	}
	view := make(map[string]string, len(session)+len(st.writes[0].set))
	maps.Copy(view, session)
	for i := range st.writes {
		st.writes[i].applyTo(view)
	}
	return st.remote, view, st.writes[len(st.writes)-1].version
}

// wrote records the changes written back after an event whose session
// stood for version.
func (s *clientStates) wrote(id clientid.ID, set map[string]string, del []string, version uint64, now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[id]
	if st == nil {
		st = &clientState{seen: now}
		s.m[id] = st
	}
	st.writes = append(st.writes, sessionWrite{set: set, del: del, version: version + 1, at: now})
}

func (s *clientStates) forget(id clientid.ID) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// len returns the number of clients remembered.
func (s *clientStates) len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.m)
}

// sweep forgets the clients for which keep returns false and those whose
// last event began before idleSince; it returns how many it forgot.
func (s *clientStates) sweep(keep func(clientid.ID) bool, idleSince time.Time) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for id, st := range s.m {
		if st.seen.Before(idleSince) || !keep(id) {
			delete(s.m, id)
			n++
		}
	}
	return n
}
