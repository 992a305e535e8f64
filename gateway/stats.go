package gateway

import "sync/atomic"

// Stats is a snapshot of the gateway's state and counters.
type Stats struct {
	Clients     int // connected clients
	Groups      int // non-empty groups
	UIDs        int // bound uids
	Workers     int // linked workers (links with events)
	PushClients int // linked push clients
	// CompressedClients: connected clients that negotiated
	// permessage-deflate (of Clients).
	CompressedClients int
	// Announced: a register holds the gateway's lease (always false
	// without Config.Registers). For readiness checks.
	Announced bool

	Accepted         uint64 // clients upgraded
	Rejected         uint64 // handshakes refused or failed
	OverLimit        uint64 // of Rejected: refused with 503 past MaxConnections
	SlowConsumer     uint64 // clients closed with 4000
	HeartbeatTimeout uint64 // clients closed with 4001
	RateLimited      uint64 // clients closed with 4002
	// EventsDropped counts events held for want of a worker and given up
	// after NoWorkerTimeout: those of the clients closed with 1013, and
	// Close events of clients already gone.
	EventsDropped     uint64
	EventsRedelivered uint64 // unacked events handed to another worker
	// ClientsPaused counts the times a client's socket stopped being read
	// because the link its events take was full (flow control).
	ClientsPaused uint64
	// NoWorkerClosed counts clients closed with 1013 because no worker
	// linked within NoWorkerTimeout.
	NoWorkerClosed uint64
	// TooBigForLink counts clients closed with 1009 because a message with
	// their session would not fit the link to the workers.
	TooBigForLink uint64
	// LinkProtocolErrors counts links closed for breaking the Link
	// protocol (ErrLinkProtocol).
	LinkProtocolErrors uint64
	LinksRejected      uint64 // link calls refused for a wrong secret
	ProtocolErrors     uint64 // clients closed for breaking RFC 6455 or a size limit (1002, 1007, 1009)
	FrameTimeouts      uint64 // clients closed with 1008: a frame did not arrive within FrameTimeout
	// Of Rejected, by the limit that refused the handshake (OverLimit is
	// MaxConnections):
	OverHandshakes     uint64 // answered 503 past MaxHandshakes
	OverConnectionsIP  uint64 // refused with 503 past MaxConnectionsPerIP
	OverHandshakeRate  uint64 // refused with 429 past HandshakeRatePerIP
	ProxyHeaderRefused uint64 // closed for a missing, invalid or untrusted PROXY header
}

type counters struct {
	accepted, rejected, overLimit                atomic.Uint64
	slowConsumer, heartbeatTimeout, rateLimited  atomic.Uint64
	eventsDropped, eventsRedeliv                 atomic.Uint64
	clientsPaused, noWorkerClosed, tooBigForLink atomic.Uint64
	linkProtocolErrors                           atomic.Uint64
	linkRejected                                 atomic.Uint64
	protocolErrors, frameTimeouts                atomic.Uint64
}

// Stats returns the current state and counters.
func (g *Gateway) Stats() Stats {
	if g.nodeID == 0 { // not made by New
		return Stats{}
	}
	workers, push := g.router.counts()
	return Stats{
		Clients:            g.hub.count(),
		Groups:             g.hub.groupCount(),
		UIDs:               g.hub.uidCount(),
		Workers:            workers,
		PushClients:        push,
		CompressedClients:  int(g.hub.compressed.Load()),
		Announced:          g.announced(),
		Accepted:           g.stats.accepted.Load(),
		Rejected:           g.stats.rejected.Load(),
		OverLimit:          g.stats.overLimit.Load(),
		SlowConsumer:       g.stats.slowConsumer.Load(),
		HeartbeatTimeout:   g.stats.heartbeatTimeout.Load(),
		RateLimited:        g.stats.rateLimited.Load(),
		EventsDropped:      g.stats.eventsDropped.Load(),
		ClientsPaused:      g.stats.clientsPaused.Load(),
		NoWorkerClosed:     g.stats.noWorkerClosed.Load(),
		TooBigForLink:      g.stats.tooBigForLink.Load(),
		LinkProtocolErrors: g.stats.linkProtocolErrors.Load(),
		EventsRedelivered:  g.stats.eventsRedeliv.Load(),
		LinksRejected:      g.stats.linkRejected.Load(),
		ProtocolErrors:     g.stats.protocolErrors.Load(),
		FrameTimeouts:      g.stats.frameTimeouts.Load(),

		OverHandshakes:     g.edge.overHandshakes.Load(),
		OverConnectionsIP:  g.edge.perIPConns.Load(),
		OverHandshakeRate:  g.edge.perIPRate.Load(),
		ProxyHeaderRefused: g.edge.proxyHeader.Load(),
	}
}

func (g *Gateway) announced() bool {
	a := g.announcer.Load()
	return a != nil && a.Announced()
}
