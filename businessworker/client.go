package businessworker

import (
	"context"
	"maps"
	"sync"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Client is the client whose event is being handled. It is valid during the
// handler call only; keep ID() to address the client later.
type Client struct {
	w           *Worker
	id          clientid.ID
	idStr       string
	remote      string
	uid         string
	redelivered bool

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

// Redelivered reports whether the event was handed to another worker before,
// which stopped without acknowledging it: the handler may see it twice.
func (c *Client) Redelivered() bool { return c.redelivered }

// Session returns the client's session as of the event. The map belongs to
// the handler call; changes to it are written back to the gateway, replacing
// the session, when the handler returns (not after OnClose: the client is
// gone). Later events of the client see the change.
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
	return c.w.SendToClient(ctx, c.idStr, m)
}

// Close closes this client's connection (see API.CloseClient).
func (c *Client) Close(ctx context.Context, opts ...CloseOption) error {
	return c.w.CloseClient(ctx, c.idStr, opts...)
}

// changed reports whether the handler changed the session.
func (c *Client) changed() bool {
	return c.session != nil && !maps.Equal(c.session, c.base)
}

// clientState is what a worker remembers about a client between its events.
type clientState struct {
	remote string
	// A session written back and the version the gateway has once it is
	// applied; nil when the gateway has caught up.
	session map[string]string
	version uint64
}

// clientStates is the per-client memory of a worker, forgotten on close.
type clientStates struct {
	mu sync.Mutex
	m  map[clientid.ID]*clientState
}

// begin returns the remote address and the session the event should see:
// the session written back by an earlier event when the gateway sent this
// event before applying it, else the event's own.
func (s *clientStates) begin(id clientid.ID, ev *pb.Event) (remote string, session map[string]string, version uint64) {
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
	if st.session != nil {
		if version < st.version {
			session, version = st.session, st.version
		} else {
			st.session = nil // the gateway has the write-back
		}
	}
	return st.remote, session, version
}

// wrote records a session written back after an event seen at version.
func (s *clientStates) wrote(id clientid.ID, session map[string]string, version uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.m[id]
	if st == nil {
		st = &clientState{}
		s.m[id] = st
	}
	st.session, st.version = session, version+1
}

func (s *clientStates) forget(id clientid.ID) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}
