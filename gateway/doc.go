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
// Close codes sent by the gateway (see internal/wsconn for the table):
// 1000 on close_client without a code, 1001 on shutdown, 1002/1007/1009 on
// protocol violations, 1008 when a frame does not arrive within
// FrameTimeout, 4000 slow consumer, 4001 heartbeat timeout, 4002 rate
// limited. A client's own close code is echoed. The Close event carries
// the client's code, the gateway's, or 1006 if the connection dropped.
//
// # Events and delivery
//
// Each client's events (Connect with the handshake data, Message, Close)
// go to one worker, picked by rendezvous hashing of the client id over the
// links whose Hello asked for events, so they are handled in order. When
// no worker is linked, events are dropped and counted (Stats.EventsDropped)
// and the messages sent meanwhile are lost. A link keeps its events until
// the worker acks them (cumulatively); when the link breaks, its unacked
// events go to the remaining workers with redelivered set: delivery is at
// least once, and a redelivered event may reach the new worker after newer
// events of the same client. A link holds at most MaxUnacked events; past
// it the oldest one is dropped (counted in Stats.EventsOverflow, logged
// once per episode) rather than stopping the clients.
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
// writerShard.mu (a writer shard's dirty list) is a leaf: taken under
// conn.mu, never held while taking another lock.
//
// Client events are routed while holding conn.mu, which orders them per
// client. finish (closing a socket) and hub removal run with no lock held.
package gateway
