// Package gateway is the gateway role of gatewayworker: it holds client
// WebSocket connections and serves the internal Link service through which
// workers receive client events and send commands. It has no business
// logic.
//
// # Clients
//
// A client id is the gateway's random node id (drawn per start) and a
// per-gateway connection sequence (see internal/clientid). After the
// upgrade (no net/http: wsconn.Upgrade on the raw connection) a plain
// client keeps only its socket's file descriptor (no net.Conn, no runtime
// poll descriptor; fd.go) and is registered with an epoll poller; when it
// is readable a pool goroutine reads the frames available with a pooled
// buffer and re-arms the poller. A frame only partly arrived is waited for
// (up to FrameTimeout) on a goroutine of that client's own, parked until
// the poller reports more input, so a client stalling mid-frame never
// holds a pool goroutine nor a thread. TLS clients keep their net.Conn and
// a reader goroutine. An idle client holds no goroutine and no buffer. Writes go through a
// per-client queue of shared, encoded frames with a byte budget
// (MaxPending); a few writer shards (one per CPU) write every client's
// queued frames with one non-blocking write or writev each, and a client
// whose socket is full is handed to a flusher goroutine of its own until it
// drains (see writer.go). A broadcast encodes its frame once. A client that cannot keep up is closed with 4000 and
// counted; no client slows another.
//
// # The edge
//
// Before the upgrade a connection may carry a PROXY protocol header
// (Config.ProxyProtocol) or come from a trusted HTTP proxy whose
// X-Forwarded-For names the client (Config.TrustedProxies); the client's
// address then is the one named there, for workers and for the
// per-address limits (MaxConnectionsPerIP: 503, HandshakeRatePerIP: 429).
// Handshakes in progress are bounded by MaxHandshakes, clients by
// MaxConnections. Config.Subprotocols and OnHandshake choose the
// subprotocol; the worker sees it in the Connect event.
//
// Close codes sent by the gateway (see internal/wsconn for the table):
// 1000 on close_client without a code, 1001 on shutdown, 1002/1007/1009 on
// protocol violations, 1008 when a frame does not arrive within
// FrameTimeout, 4000 slow consumer, 4001 heartbeat timeout, 4002 rate
// limited. A client's own close code is echoed. The Close event carries
// the client's code, the gateway's, or 1006 if the connection dropped.
// After sending its close frame without waiting for the client's
// (protocol error, policy close, answer to the client's close), the
// gateway half-closes the socket and discards the client's input for a
// bounded time before closing it, so the frame is not lost to a TCP reset
// (closedrain.go).
//
// # Events and delivery
//
// Each client's events (Connect with the handshake data, Message, Close)
// go to one worker, picked by rendezvous hashing of the client id over the
// links whose Hello asked for events, so they are handled in order. No
// event read from a client is dropped silently (docs/concepts.md states
// the guarantee):
//
//   - Flow control: a link sends at most its window of events (LinkWindow,
//     LinkWindowBytes, or less if the worker asks) before the worker acks
//     them. A client whose event is queued while the link's queued and
//     in-flight events fill the window is paused: its socket is not read
//     (the poller is not re-armed for input) until the link is back under
//     half its window (link.go). TCP pushes back on the client.
//   - Selective acks: the worker acks events in ranges as their handlers
//     return, in any order; a stuck event holds only its own slot.
//   - When a link breaks, its unacked events go to the remaining workers
//     with redelivered set (at least once; a redelivered event may reach
//     the new worker after newer events of the same client), and the
//     clients paused on it are resumed.
//   - With no worker linked, events are held and their clients paused for
//     NoWorkerTimeout; a worker linking in time gets them in order, else
//     the clients are closed with 1013 (Stats.NoWorkerClosed,
//     Stats.EventsDropped) (router.go).
//   - A message that would not fit the link with the client's session
//     closes the client with 1009 (Stats.TooBigForLink).
//   - A linker that breaks the protocol (an ack of an event never sent, a
//     command of an unknown kind) loses its link (ErrLinkProtocol), never
//     the gateway.
//
// # Compression
//
// Clients that offer permessage-deflate (RFC 7692) get it unless
// Config.DisableCompression is set, without context takeover, so that a
// connection keeps no compression state: a send compresses its message at
// most once (from CompressionThreshold bytes) and queues the same
// compressed frame for every recipient that negotiated it
// (compression.go).
//
// # Commands
//
// Commands of one link are applied in order on that link's receive
// goroutine. Sends to unknown clients are dropped silently; commands on one
// client (join, leave, bind, unbind, set_session, close_client) reply
// ErrClientNotFound when asked for a reply. A KIND_CLIENTS query that
// lists conns and is not count_only replies ErrClientNotFound for an
// unknown conn, along with the clients found.
//
// # Lock order
//
// Locks are taken in this order; a goroutine holding one never takes an
// earlier one:
//
//  1. router.mu (link set changes)
//  2. a group index shard, or the uid index shards of one bind (ascending)
//  3. a client shard of the hub
//  4. conn.mu (client state and write queue)
//  5. link.mu (a link's event and reply queues)
//
// router.heldMu (events held while no worker is linked) is taken under
// conn.mu and before link.mu; a paused client is resumed with no router,
// held or link lock held.
//
// writerShard.mu (a writer shard's dirty list) is a leaf: taken under
// conn.mu, never held while taking another lock. So are edgeState.mu (the
// real addresses of proxied clients, limits.go) and the shards of the
// per-address limiter (internal/iplimit).
//
// Client events are routed while holding conn.mu, which orders them per
// client. finish (closing a socket) and hub removal run with no lock held.
package gateway
