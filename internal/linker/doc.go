// Package linker is the engine shared by businessworker's Worker and
// pushclient's Client: it keeps one gRPC Link stream to every live gateway, batches
// commands onto those links, routes them by client id, runs queries across
// gateways and, for workers, dispatches client events to handlers and acks
// them cumulatively.
//
// # Links
//
// A Linker learns the live gateways from a Source (by default a
// discovery.Watcher over the registers). For every gateway in the set it runs
// one link goroutine that dials the gateway's LAN address, sends Hello, waits
// for Welcome and then runs the session: a sender goroutine (this one) and a
// receiver goroutine. A broken session is retried with discovery.Backoff for
// as long as the gateway stays in the set; a gateway that leaves the set has
// its link closed.
//
// # Commands
//
// Each gateway has one ordered command queue that survives reconnects. The
// sender takes whatever is queued and sends it as one LinkRequest (at most
// MaxBatchBytes / MaxBatchCommands), together with the acks of the events
// done since the last one.
// Commands on one link are applied in order by the gateway, so a query or a
// flush observes every earlier command of this linker on that gateway.
// Commands taken into a batch when a stream breaks are lost (at most once);
// commands still queued are sent on the next session.
//
// # Events
//
// Events are queued per client (dispatch.go): a client's events run in
// order on a goroutine that lives while the client has events waiting;
// different clients run in parallel, so a stuck handler holds up only its
// own client. The gateway's window (WindowEvents, WindowBytes, asked in
// Hello) bounds the events in hand, hence the goroutines. When a handler
// returns, its event is acked selectively (ranges of seqs, in any order),
// at most every AckDelay while events are still in hand and at once when
// none are. Events of a link session that ended are not started: the
// gateway hands them to another worker. A watchdog reports handlers
// running past SlowHandler, once per event.
//
// # Goroutines
//
// Run owns every goroutine: the source, one per gateway link (plus its
// receiver), the client goroutines of the dispatcher and its watchdog. All are stopped and awaited before Run
// returns. Start runs Run in a goroutine of the Linker's own, stopped and
// awaited by Close; with Config.Lazy the first command calls Start, so a push
// client links only once it is used.
package linker
