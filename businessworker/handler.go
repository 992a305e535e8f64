package businessworker

import (
	"context"
	"fmt"
)

// Handler is the business code of a Worker. Each client event comes as one
// struct (ConnectEvent, MessageEvent, CloseEvent), so fields can be added
// later without breaking a Handler; embed BaseHandler to implement only the
// methods you need.
//
// Client events (OnConnect, OnMessage, OnClose) of one client run one at a
// time and in order; different clients' events run concurrently, each client
// with events waiting on a goroutine of its own. A handler may block (a
// database call, a query on the API); it holds up only its own client's
// later events. While a worker falls behind, its gateways stop reading the
// clients whose events wait (Config.EventWindow): nothing is dropped.
// An event is acknowledged to the gateway when its handler returns; if the
// worker dies first, the gateway hands it to another worker (the event's
// Redelivered field). A handler running past Config.SlowHandler
// is logged and counted once. A panic in a handler is recovered and logged,
// and the event counts as handled (a panicking OnConnect accepts the client
// with no change).
//
// The *Client of an event is valid during the call only; keep Client.ID() to
// address the client later. ctx is cancelled when the worker gives up on
// events in hand at shutdown (Config.StopTimeout).
type Handler interface {
	// OnWorkerStart runs once when Run starts. The worker takes no event
	// until it returns: meanwhile it is linked as a push client (the API
	// works) and the gateways route events to the other workers.
	OnWorkerStart(ctx context.Context, w *Worker)
	// OnConnect: a client connected (GatewayWorker's onConnect and
	// onWebSocketConnect in one call: e.Handshake is the upgrade request).
	// The reply may refuse the client or give it a uid, groups and session;
	// these are applied before the gateway routes the client's first
	// message (see ConnectReply). A non-nil error closes the client with
	// 1011 (internal error) and is logged.
	OnConnect(ctx context.Context, e ConnectEvent) (ConnectReply, error)
	// OnMessage: the client sent a message. e.Message.Data is owned by the
	// handler and may be kept after the call.
	OnMessage(ctx context.Context, e MessageEvent)
	// OnClose: the client is gone; no event of the client follows.
	OnClose(ctx context.Context, e CloseEvent)
	// OnWorkerStop runs once at shutdown, after the events in hand are done
	// and before the links close; commands it sends are delivered.
	OnWorkerStop(ctx context.Context, w *Worker)
}

// ConnectEvent is a client's connection, with its WebSocket upgrade request.
type ConnectEvent struct {
	// Client is the client that connected (valid during the call only).
	Client *Client
	// Handshake is the upgrade request: path, query, headers, chosen
	// subprotocol and remote address.
	Handshake Handshake
	// RemoteAddr is the client's address as the gateway saw it (the
	// PROXY protocol's source address behind a proxy that sends it).
	RemoteAddr string
	// Redelivered: another worker got this event before and stopped
	// without acknowledging it, so the handler may see it twice.
	Redelivered bool
}

// ConnectReply is what OnConnect decides about a new client. The zero value
// accepts the client and changes nothing.
//
// The worker sends the reply's commands to the client's gateway before it
// acknowledges the Connect event, on the same link, and the gateway applies
// them before it reads the client's first message: that message's event
// (and every later one) already sees the uid, groups and session. Changes
// the handler made to e.Client.Session() are written back with Session.
type ConnectReply struct {
	// Refuse, if not nil, closes the client with its close code and
	// reason; UID, Groups and Session are then ignored, and no event of
	// the client but OnClose follows.
	Refuse *Refusal
	// UID, if not "", binds the client to this uid (as API.BindUID).
	UID string
	// Groups are groups the client joins (as API.JoinGroup).
	Groups []string
	// Session keys are set in the client's session, merged with the keys
	// the handler set through e.Client.Session() (as API.UpdateSession).
	Session map[string]string
}

// Refusal is how a ConnectReply refuses a client: the WebSocket close code
// and reason the client gets.
type Refusal struct {
	// Code is the close code; 0, or a code a server may not send (valid:
	// 1000-1003, 1007-1014, 3000-4999), means DefaultRefusalCode.
	Code uint16
	// Reason is the close reason (at most 123 bytes are sent).
	Reason string
}

// DefaultRefusalCode is the close code of a Refusal whose Code is 0 (1008,
// policy violation).
const DefaultRefusalCode = 1008

// MessageEvent is a message the client sent.
type MessageEvent struct {
	// Client is the sender (valid during the call only).
	Client *Client
	// Message is the WebSocket message; its Data is the handler's to keep.
	Message Message
	// Redelivered: another worker got this event before and stopped
	// without acknowledging it, so the handler may see it twice.
	Redelivered bool
}

// CloseEvent is a client's disconnection.
type CloseEvent struct {
	// Client is the client that left (valid during the call only). Its
	// session is the last one the gateway had; changes to it are not
	// written back.
	Client *Client
	// Redelivered: another worker got this event before and stopped
	// without acknowledging it, so the handler may see it twice.
	Redelivered bool
}

// String describes the refusal, for logs.
func (r Refusal) String() string { return fmt.Sprintf("refused (%d %q)", r.Code, r.Reason) }

// BaseHandler implements Handler with no-ops (its OnConnect accepts every
// client); embed it and override what you need.
type BaseHandler struct{}

var _ Handler = BaseHandler{}

// OnWorkerStart does nothing.
func (BaseHandler) OnWorkerStart(context.Context, *Worker) {}

// OnConnect accepts the client with no change.
func (BaseHandler) OnConnect(context.Context, ConnectEvent) (ConnectReply, error) {
	return ConnectReply{}, nil
}

// OnMessage does nothing.
func (BaseHandler) OnMessage(context.Context, MessageEvent) {}

// OnClose does nothing.
func (BaseHandler) OnClose(context.Context, CloseEvent) {}

// OnWorkerStop does nothing.
func (BaseHandler) OnWorkerStop(context.Context, *Worker) {}
