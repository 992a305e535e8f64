// Package businessworker is the library business code imports to talk to
// gatewayworker gateways: the Worker receives client events and runs the
// Handler and offers the API (GatewayWorker's Lib\Gateway). The same API,
// without events, is what package pushclient (GatewayWorker's GatewayClient)
// offers to any Go program: a web handler, a cron job. docs/api.md maps every
// GatewayWorker call to its Go name.
//
// # Handlers
//
// A Handler gets each client event as a struct: OnConnect(ctx, ConnectEvent)
// with the client and its WebSocket handshake (path, query, headers, chosen
// subprotocol, remote address), OnMessage(ctx, MessageEvent) and
// OnClose(ctx, CloseEvent); new fields can be added to the events without
// breaking handlers. OnConnect returns a ConnectReply that may refuse the
// client (a close code and reason) or give it a uid, groups and session:
// the worker sends these commands before it acknowledges the connect event,
// so they are in place before the gateway routes the client's first
// message. Embed BaseHandler to implement only what you need.
//
// # Zero values
//
// Worker and API must be made by New (a Worker embeds its API); the zero
// values do not panic but their calls return ErrNotInitialized. A Client is
// made by the worker for each event.
//
// # How it links
//
// A Worker or push client watches the registers for live gateways and keeps
// one gRPC link to each. A command for one client goes to the gateway whose
// node id is the client id's high half, with no lookup; commands for uids,
// groups or everyone go to every linked gateway.
//
// # Ordering and delivery
//
// Commands are asynchronous: a call returns once the command is queued, and
// fails only for a bad argument (ErrInvalidClientID, ErrEmptyGroup,
// ErrEmptyUID), a gateway that is not linked (ErrGatewayNotLinked) or a
// stopped worker. Commands from one Worker or push client to one gateway are
// applied in the order sent, so messages to one client keep their order and a
// query sees the effect of earlier commands. Flush waits until every command
// sent so far is applied: a caller that must know the gateways took a command
// calls it after the command.
//
// GatewayWorker's $raw flag has no counterpart: a gateway adds no protocol of
// its own, so every send is "raw" and Message.Binary chooses between a text
// and a binary WebSocket frame.
//
// Queries (IsOnline, Session, counts and lists) ask the gateways concerned
// in parallel under ctx's deadline (10 s when ctx has none). When a gateway
// does not answer in time or its link is down, the call returns the merged
// result of the gateways that answered together with an error naming the
// others (a *GatewayError per gateway, joined).
//
// Events are handled at least once: a gateway keeps an event until the
// worker's handler returns, and hands it to another worker if the link
// breaks first (the event's Redelivered field reports it). Messages clients
// send while no worker is linked are dropped by the gateway.
//
// # Sessions
//
// Client.Session is the client's session as of the event. When the handler
// returns, the keys it set and deleted in that map are written back to the
// gateway, which merges them into the session: keys that the API or a push
// client changed meanwhile, and the handler did not touch, keep their new
// values. The next events of the client on this worker see the handler's
// changes even when the gateway read them before applying the write-back
// (docs/concepts.md, "Sessions", says exactly when).
//
// # Start, gone gateways, stale commands
//
// The worker takes no event before OnWorkerStart returns: meanwhile it is
// linked as a push client, so the API works. Calls for the clients of a
// gateway that is not in the set fail at once with ErrGatewayNotLinked.
// Commands for a listed gateway whose link is down wait for it, and are
// dropped unsent (and counted) once older than Config.MaxQueueAge.
//
// # Timers
//
// Worker.Every runs a function periodically (GatewayWorker's Timer::add);
// with WithLeaderOnly it runs only on the worker holding the leader lease,
// granted by a majority of the registers, so a cluster-wide broadcast goes
// out once per tick however many workers run, and never on two workers at
// once, even across a network partition. When the leader dies, another
// worker leads within Config.LeaderLeaseTTL (DefaultLeaderLeaseTTL); when it
// stops cleanly, at once. The run's ctx carries the lease's fencing token
// (LeaderToken). docs/concepts.md states the guarantee and its assumptions.
package businessworker
