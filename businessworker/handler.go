package businessworker

import "context"

// Handler is the business code of a Worker.
//
// Client events (OnConnect, OnWebSocketConnect, OnMessage, OnClose) of one
// client run one at a time and in order; different clients' events run
// concurrently, each client with events waiting on a goroutine of its own. A
// handler may block (a database call, a query on the API); it holds up only
// its own client's later events. While a worker falls behind, its gateways
// stop reading the clients whose events wait (Config.EventWindow): nothing
// is dropped. An event is acknowledged to the gateway when its handler
// returns; if the worker dies first, the gateway hands it to another worker
// (Client.Redelivered). A handler running past Config.SlowHandler is logged
// and counted once. A panic in a handler is recovered and logged, and the
// event counts as handled.
//
// The *Client is valid during the call only; keep c.ID() to address the client
// later. ctx is cancelled when the worker gives up on events in hand at
// shutdown (Config.StopTimeout).
type Handler interface {
	// OnWorkerStart runs once when Run starts. The worker takes no event
	// until it returns: meanwhile it is linked as a push client (the API
	// works) and the gateways route events to the other workers.
	OnWorkerStart(ctx context.Context, w *Worker)
	// OnConnect: a client connected.
	OnConnect(ctx context.Context, c *Client)
	// OnWebSocketConnect runs right after OnConnect, for the same event, with
	// the upgrade request.
	OnWebSocketConnect(ctx context.Context, c *Client, hs Handshake)
	// OnMessage: the client sent a message. msg.Data is owned by the handler
	// and may be kept after the call.
	OnMessage(ctx context.Context, c *Client, msg Message)
	// OnClose: the client is gone; no event of the client follows.
	OnClose(ctx context.Context, c *Client)
	// OnWorkerStop runs once at shutdown, after the events in hand are done
	// and before the links close; commands it sends are delivered.
	OnWorkerStop(ctx context.Context, w *Worker)
}

// BaseHandler implements Handler with no-ops; embed it and override what you
// need.
type BaseHandler struct{}

var _ Handler = BaseHandler{}

func (BaseHandler) OnWorkerStart(context.Context, *Worker)                 {}
func (BaseHandler) OnConnect(context.Context, *Client)                     {}
func (BaseHandler) OnWebSocketConnect(context.Context, *Client, Handshake) {}
func (BaseHandler) OnMessage(context.Context, *Client, Message)            {}
func (BaseHandler) OnClose(context.Context, *Client)                       {}
func (BaseHandler) OnWorkerStop(context.Context, *Worker)                  {}
