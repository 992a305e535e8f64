package gateway

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"github.com/gatewayworker/gatewayworker/internal/rendezvous"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Batching limits of one LinkResponse. A single event or reply part larger
// than maxBatchBytes still goes, alone.
const (
	maxBatchItems = 1024
	maxBatchBytes = 1 << 20
	// eventOverhead approximates the encoded size of an event's fixed
	// fields.
	eventOverhead = 32
)

// linkService implements the Gateway gRPC service.
type linkService struct {
	pb.UnimplementedGatewayServer
	g    *Gateway
	info *pb.GatewayInfo
}

// queuedEvent is an event with its estimated encoded size, and the client
// it is counted against (nil for none: a Close event held while no worker
// was linked).
type queuedEvent struct {
	ev   *pb.Event
	size int
	c    *conn
}

// queuedReply is a reply (or a part of one) with its encoded size.
type queuedReply struct {
	r    *pb.Reply
	size int
}

// link is one worker's or push client's Link stream.
//
// Flow control: events go out while the link's window (winEvents events
// and winBytes bytes sent and not acked) has room; the rest wait in
// pending. A client whose event is queued while pending and in flight
// together fill the window is paused (its socket is not read) and listed in
// waiters; when acks bring the link under half its window, the waiters are
// resumed. So a link holds at most its window in flight, plus at most about
// one read buffer per paused client in pending.
//
// Each client may also have at most ClientWindow events queued or in flight
// on links (conn.linkEvents): a client whose handler is stuck, or that
// sends faster than its worker handles it, is paused on its own before it
// fills the link's window, so it holds up no other client.
type link struct {
	g      *Gateway
	id     string // linker id
	name   string
	events bool
	hash   uint64
	wake   chan struct{} // capacity 1: something to send

	winEvents int
	winBytes  int

	mu             sync.Mutex
	closed         bool
	welcomed       bool
	seq            uint64        // last seq sent
	pending        []queuedEvent // not sent yet (no seq)
	pendingBytes   int
	inflight       map[uint64]queuedEvent // sent, not acked, by seq
	inflightBytes  int
	replies        []queuedReply
	workers        []string
	workersChanged bool
	waiters        []*conn // paused clients waiting for room

	// Owned by the receive goroutine.
	cmd commander
}

func newLink(g *Gateway, h *pb.Hello) *link {
	l := &link{
		g:         g,
		id:        h.GetLinkerId(),
		name:      h.GetName(),
		events:    h.GetEvents(),
		hash:      rendezvous.HashString(h.GetLinkerId()),
		wake:      make(chan struct{}, 1),
		winEvents: g.cfg.LinkWindow,
		winBytes:  g.cfg.LinkWindowBytes,
		inflight:  make(map[uint64]queuedEvent),
	}
	if w := int(h.GetWindowEvents()); w > 0 && w < l.winEvents {
		l.winEvents = w
	}
	if w := h.GetWindowBytes(); w > 0 && w < uint64(l.winBytes) {
		l.winBytes = int(w)
	}
	l.cmd.g = g
	return l
}

// Link serves one linker: Hello, then Welcome, then events and replies
// out, commands and acks in. When the link ends, its unacked events go to
// the other workers with redelivered set.
func (s *linkService) Link(stream pb.Gateway_LinkServer) error {
	g := s.g
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	h := first.GetHello()
	if h == nil || h.GetLinkerId() == "" {
		return status.Error(codes.InvalidArgument, ErrNoHello.Error())
	}
	if g.draining.Load() {
		return status.Error(codes.Unavailable, "gateway: shutting down")
	}
	l := newLink(g, h)
	log := g.log.With("linker", l.id, "name", l.name, "events", l.events)
	g.router.add(l)
	log.Info("link up", "window_events", l.winEvents, "window_bytes", l.winBytes)

	recvDone := make(chan struct{})
	var recvErr error
	g.linkWG.Add(1)
	go func() {
		defer g.linkWG.Done()
		defer close(recvDone)
		if recvErr = l.cmd.applyAll(l, first); recvErr == nil {
			recvErr = l.receive(stream)
		}
	}()
	err = l.sendLoop(stream, s.info, recvDone)
	if err == nil {
		select {
		case <-recvDone:
			err = recvErr
		default:
		}
	}

	g.router.remove(l)
	l.reroute(l.close())
	switch {
	case err == nil || errors.Is(err, io.EOF):
		log.Info("link down")
		return nil
	case errors.Is(err, ErrLinkProtocol):
		g.stats.linkProtocolErrors.Add(1)
		log.Warn("link closed: protocol error", "err", err)
		return status.Error(codes.InvalidArgument, err.Error())
	}
	log.Info("link down", "err", err)
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unavailable, err.Error())
}

// receive applies the linker's acks and commands until the stream ends or
// the linker breaks the protocol.
func (l *link) receive(stream pb.Gateway_LinkServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := l.cmd.applyAll(l, req); err != nil {
			return err
		}
	}
}

// sendLoop is the link's sender: whatever is queued goes out in one
// LinkResponse per round. It returns when the receiver ended, the stream
// failed, or the gateway shuts down (after sending what is queued).
func (l *link) sendLoop(stream pb.Gateway_LinkServer, info *pb.GatewayInfo, recvDone <-chan struct{}) error {
	ctx := stream.Context()
	for {
		if resp := l.nextBatch(info, true); resp != nil {
			if err := stream.Send(resp); err != nil {
				return err
			}
			continue
		}
		select {
		case <-l.wake:
		case <-recvDone:
			// The linker stopped sending (and acking): answer what it
			// asked; its events go to another worker.
			return l.sendRest(stream, info, false)
		case <-ctx.Done():
			return context.Cause(ctx)
		case <-l.g.quit:
			return l.sendRest(stream, info, true)
		}
	}
}

// sendRest sends everything still queued that the window lets out (events
// too if withEvents).
func (l *link) sendRest(stream pb.Gateway_LinkServer, info *pb.GatewayInfo, withEvents bool) error {
	for resp := l.nextBatch(info, withEvents); resp != nil; resp = l.nextBatch(info, withEvents) {
		if err := stream.Send(resp); err != nil {
			return err
		}
	}
	return nil
}

func (l *link) signal() {
	select {
	case l.wake <- struct{}{}:
	default:
	}
}

// canSendLocked reports whether the window lets the next pending event go.
// An empty window always takes one event, so an event larger than the
// byte window still goes.
func (l *link) canSendLocked() bool {
	if len(l.pending) == 0 {
		return false
	}
	if len(l.inflight) == 0 {
		return true
	}
	return len(l.inflight) < l.winEvents && l.inflightBytes+l.pending[0].size <= l.winBytes
}

// nextBatch builds the next LinkResponse, or nil if nothing can be sent.
// The first one carries only Welcome and the worker set. Events are left
// queued unless withEvents.
func (l *link) nextBatch(info *pb.GatewayInfo, withEvents bool) *pb.LinkResponse {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.welcomed {
		l.welcomed = true
		l.workersChanged = false
		return &pb.LinkResponse{
			Welcome: &pb.Welcome{Gateway: info, WindowEvents: uint32(l.winEvents), WindowBytes: uint64(l.winBytes)},
			Workers: l.workers, WorkersChanged: true,
		}
	}
	sendEvents := withEvents && l.canSendLocked()
	if !sendEvents && len(l.replies) == 0 && !l.workersChanged {
		return nil
	}
	resp := &pb.LinkResponse{}
	if l.workersChanged {
		resp.Workers, resp.WorkersChanged = l.workers, true
		l.workersChanged = false
	}
	items, bytes := 0, 0
	for len(l.replies) > 0 && items < maxBatchItems {
		q := l.replies[0]
		if items > 0 && bytes+q.size > maxBatchBytes {
			break
		}
		resp.Replies = append(resp.Replies, q.r)
		l.replies[0] = queuedReply{}
		l.replies = l.replies[1:]
		items++
		bytes += q.size
	}
	for sendEvents && items < maxBatchItems && l.canSendLocked() {
		q := l.pending[0]
		if items > 0 && bytes+q.size > maxBatchBytes {
			break
		}
		l.pending[0] = queuedEvent{}
		l.pending = l.pending[1:]
		l.pendingBytes -= q.size
		l.seq++
		q.ev.Seq = l.seq
		l.inflight[l.seq] = q
		l.inflightBytes += q.size
		resp.Events = append(resp.Events, q.ev)
		items++
		bytes += q.size
	}
	if len(l.pending) == 0 {
		l.pending = nil
	}
	if len(l.replies) == 0 {
		l.replies = nil
	}
	if (withEvents && l.canSendLocked()) || len(l.replies) > 0 {
		l.signal()
	}
	return resp
}

// fullLocked reports whether the link's queued and in-flight events fill
// its window: clients whose events are queued then pause.
func (l *link) fullLocked() bool {
	n := len(l.pending) + len(l.inflight)
	return n >= l.winEvents || l.pendingBytes+l.inflightBytes >= l.winBytes
}

// roomLocked reports whether the link is back under half its window: its
// paused clients may read again.
func (l *link) roomLocked() bool {
	n := len(l.pending) + len(l.inflight)
	return n <= l.winEvents/2 && l.pendingBytes+l.inflightBytes <= l.winBytes/2
}

// push queues an event of client c (nil: counted against no client). It
// never drops it: it reports false only if the link is closed (the caller
// routes the event elsewhere). With pause (c's reader is the caller, holding
// c.mu), c is paused when the link is full, and listed to be resumed when
// it has room again, or when c itself has ClientWindow events queued or in
// flight (resumed as they are acked).
func (l *link) push(ev *pb.Event, size int, c *conn, pause bool) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.pending = append(l.pending, queuedEvent{ev: ev, size: size, c: c})
	l.pendingBytes += size
	if c != nil {
		n := c.linkEvents.Add(1)
		switch {
		case !pause || c.paused:
		case l.fullLocked():
			c.paused = true
			l.waiters = append(l.waiters, c)
			l.g.stats.clientsPaused.Add(1)
		case int(n) >= l.g.cfg.ClientWindow:
			c.paused = true
			l.g.stats.clientsPaused.Add(1)
		}
	}
	send := l.canSendLocked()
	l.mu.Unlock()
	if send {
		l.signal()
	}
	return true
}

// ack marks the events with first <= seq <= last handled. A range that is
// empty or reaches past the last seq sent is a protocol error.
func (l *link) ack(first, last uint64) error {
	var resume, connected []*conn
	l.mu.Lock()
	if first == 0 || first > last || last > l.seq {
		sent := l.seq
		l.mu.Unlock()
		return fmt.Errorf("%w: ack of [%d, %d], last seq sent %d", ErrLinkProtocol, first, last, sent)
	}
	if last-first < uint64(len(l.inflight)) {
		for seq := first; ; seq++ {
			resume, connected = l.dropInflightLocked(seq, resume, connected)
			if seq == last {
				break
			}
		}
	} else {
		for seq := range l.inflight {
			if seq >= first && seq <= last {
				resume, connected = l.dropInflightLocked(seq, resume, connected)
			}
		}
	}
	send := l.canSendLocked()
	if len(l.waiters) > 0 && l.roomLocked() {
		resume = append(resume, l.waiters...)
		l.waiters = nil
	}
	l.mu.Unlock()
	if send {
		l.signal()
	}
	resumeAll(resume)
	for _, c := range connected {
		c.connectAcked()
	}
	return nil
}

// dropInflightLocked forgets an acked event; its client goes to resume
// when it gets back under half its ClientWindow, and to connected when the
// event was its Connect.
func (l *link) dropInflightLocked(seq uint64, resume, connected []*conn) ([]*conn, []*conn) {
	q, ok := l.inflight[seq]
	if !ok {
		return resume, connected
	}
	l.inflightBytes -= q.size
	delete(l.inflight, seq)
	if q.c == nil {
		return resume, connected
	}
	if int(q.c.linkEvents.Add(-1)) == l.g.cfg.ClientWindow/2 {
		resume = append(resume, q.c)
	}
	if q.ev.GetConnect() != nil {
		connected = append(connected, q.c)
	}
	return resume, connected
}

// inHand returns the events sent and not acked, and those not sent yet.
func (l *link) inHand() (inflight, pending int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.inflight), len(l.pending)
}

// reply queues r, split into parts of at most maxBatchBytes when its
// result is large.
func (l *link) reply(r *pb.Reply) {
	parts := splitReply(r, maxBatchBytes)
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	for _, p := range parts {
		l.replies = append(l.replies, queuedReply{r: p, size: proto.Size(p)})
	}
	l.mu.Unlock()
	l.signal()
}

// setWorkers queues the worker ids for the linker.
func (l *link) setWorkers(ids []string) {
	l.mu.Lock()
	l.workers = ids
	l.workersChanged = true
	l.mu.Unlock()
	l.signal()
}

// closedEvents is what a closing link still held.
type closedEvents struct {
	inflight []queuedEvent // sent and not acked, by seq: redelivered
	pending  []queuedEvent // never sent
	waiters  []*conn
}

// close marks l closed and returns the events it still holds (no longer
// counted against their clients: rerouting counts them again).
func (l *link) close() closedEvents {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	for _, q := range l.inflight {
		if q.c != nil {
			q.c.linkEvents.Add(-1)
		}
	}
	for _, q := range l.pending {
		if q.c != nil {
			q.c.linkEvents.Add(-1)
		}
	}
	seqs := make([]uint64, 0, len(l.inflight))
	for seq := range l.inflight {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	ce := closedEvents{pending: l.pending, waiters: l.waiters}
	for _, seq := range seqs {
		ce.inflight = append(ce.inflight, l.inflight[seq])
	}
	l.inflight, l.pending, l.replies, l.waiters = nil, nil, nil, nil
	l.inflightBytes, l.pendingBytes = 0, 0
	return ce
}

// reroute hands the events of a closed link to the remaining workers (or
// holds them while none is linked), then resumes the clients paused on it.
// The events may still be referenced by the old stream, so they are
// copied, not modified.
func (l *link) reroute(ce closedEvents) {
	g := l.g
	for _, q := range ce.inflight {
		g.stats.eventsRedeliv.Add(1)
		g.router.route(rendezvous.Key(g.nodeID, q.ev.Conn), redelivery(q.ev, true), q.size, q.c, false)
	}
	for _, q := range ce.pending {
		g.router.route(rendezvous.Key(g.nodeID, q.ev.Conn), redelivery(q.ev, q.ev.Redelivered), q.size, q.c, false)
	}
	resumeAll(ce.waiters)
	if len(ce.inflight)+len(ce.pending) > 0 {
		g.log.Info("link events rerouted", "linker", l.id, "unacked", len(ce.inflight), "unsent", len(ce.pending))
	}
}

func redelivery(ev *pb.Event, redelivered bool) *pb.Event {
	return &pb.Event{
		Conn:           ev.Conn,
		Uid:            ev.Uid,
		Session:        ev.Session,
		SessionVersion: ev.SessionVersion,
		Redelivered:    redelivered,
		Kind:           ev.Kind,
	}
}

// splitReply splits r into parts whose encoded size is about max at most
// (a single client, group member list chunk or uid larger than max still
// goes in one part). Every part but the last has More set; count and stats
// go in the last.
func splitReply(r *pb.Reply, max int) []*pb.Reply {
	res := r.GetResult()
	if res == nil || proto.Size(r) <= max {
		return []*pb.Reply{r}
	}
	var (
		parts []*pb.Reply
		cur   = &pb.QueryResult{}
		size  = 0
	)
	cut := func(n int) {
		if size > 0 && size+n > max {
			parts = append(parts, &pb.Reply{Id: r.GetId(), Result: cur, More: true})
			cur, size = &pb.QueryResult{}, 0
		}
		size += n
	}
	for _, c := range res.GetClients() {
		cut(proto.Size(c) + 8)
		cur.Clients = append(cur.Clients, c)
	}
	for _, gi := range res.GetGroups() {
		// A large member list is split over parts: the linker joins the
		// entries of one name.
		conns, uids := gi.GetConns(), gi.GetUids()
		part := &pb.GroupInfo{Name: gi.GetName(), Count: gi.GetCount()}
		cut(len(gi.GetName()) + 16)
		cur.Groups = append(cur.Groups, part)
		for len(conns) > 0 || len(uids) > 0 {
			n := 0
			if len(conns) > 0 {
				n = 9
			} else {
				n = len(uids[0]) + 2
			}
			if size > 0 && size+n > max {
				cut(n)
				part = &pb.GroupInfo{Name: gi.GetName(), Count: gi.GetCount()}
				cur.Groups = append(cur.Groups, part)
			} else {
				size += n
			}
			if len(conns) > 0 {
				part.Conns = append(part.Conns, conns[0])
				conns = conns[1:]
			} else {
				part.Uids = append(part.Uids, uids[0])
				uids = uids[1:]
			}
		}
	}
	for _, u := range res.GetUids() {
		cut(proto.Size(u) + 8)
		cur.Uids = append(cur.Uids, u)
	}
	cur.Count, cur.Stats = res.GetCount(), res.GetStats()
	parts = append(parts, &pb.Reply{Id: r.GetId(), Error: r.GetError(), Result: cur})
	return parts
}
