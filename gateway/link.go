package gateway

import (
	"context"
	"errors"
	"io"
	"sync"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatewayworker/gatewayworker/internal/rendezvous"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Batching limits of one LinkResponse.
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

// queuedEvent is an event with its estimated encoded size.
type queuedEvent struct {
	ev   *pb.Event
	size int
}

// link is one worker's or push client's Link stream.
type link struct {
	g      *Gateway
	id     string // linker id
	name   string
	events bool
	hash   uint64
	wake   chan struct{} // capacity 1: something to send

	mu             sync.Mutex
	closed         bool
	welcomed       bool
	seq            uint64        // last seq sent
	pending        []queuedEvent // not sent yet (no seq)
	unacked        []*pb.Event   // sent, seq ascending and contiguous
	replies        []*pb.Reply
	workers        []string
	workersChanged bool
	overflowing    bool

	// Owned by the receive goroutine.
	cmd commander
}

func newLink(g *Gateway, h *pb.Hello) *link {
	l := &link{
		g:      g,
		id:     h.GetLinkerId(),
		name:   h.GetName(),
		events: h.GetEvents(),
		hash:   rendezvous.HashString(h.GetLinkerId()),
		wake:   make(chan struct{}, 1),
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
	log.Info("link up")

	recvDone := make(chan struct{})
	var recvErr error
	g.linkWG.Add(1)
	go func() {
		defer g.linkWG.Done()
		defer close(recvDone)
		l.cmd.applyAll(l, first)
		recvErr = l.receive(stream)
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
	if err == nil || errors.Is(err, io.EOF) {
		log.Info("link down")
		return nil
	}
	log.Info("link down", "err", err)
	if _, ok := status.FromError(err); ok {
		return err
	}
	return status.Error(codes.Unavailable, err.Error())
}

// receive applies the linker's acks and commands until the stream ends.
func (l *link) receive(stream pb.Gateway_LinkServer) error {
	for {
		req, err := stream.Recv()
		if err != nil {
			return err
		}
		l.cmd.applyAll(l, req)
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

// sendRest sends everything still queued (events too if withEvents).
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

// nextBatch builds the next LinkResponse, or nil if nothing is queued. The
// first one carries only Welcome and the worker set. Events are left
// queued unless withEvents.
func (l *link) nextBatch(info *pb.GatewayInfo, withEvents bool) *pb.LinkResponse {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.welcomed {
		l.welcomed = true
		l.workersChanged = false
		return &pb.LinkResponse{Welcome: &pb.Welcome{Gateway: info}, Workers: l.workers, WorkersChanged: true}
	}
	if (!withEvents || len(l.pending) == 0) && len(l.replies) == 0 && !l.workersChanged {
		return nil
	}
	resp := &pb.LinkResponse{}
	if l.workersChanged {
		resp.Workers, resp.WorkersChanged = l.workers, true
		l.workersChanged = false
	}
	items, bytes := 0, 0
	if len(l.replies) > 0 {
		n := min(len(l.replies), maxBatchItems)
		resp.Replies = append([]*pb.Reply(nil), l.replies[:n]...)
		clear(l.replies[:n])
		l.replies = l.replies[n:]
		items = n
	}
	n := 0
	for _, q := range l.pending {
		if !withEvents {
			break
		}
		if items >= maxBatchItems || (n > 0 && bytes+q.size > maxBatchBytes) {
			break
		}
		items++
		n++
		bytes += q.size
	}
	if n > 0 {
		resp.Events = make([]*pb.Event, n)
		for i, q := range l.pending[:n] {
			l.seq++
			q.ev.Seq = l.seq
			resp.Events[i] = q.ev
		}
		l.unacked = append(l.unacked, resp.Events...)
		clear(l.pending[:n])
		l.pending = l.pending[n:]
	}
	if len(l.pending) > 0 || len(l.replies) > 0 {
		l.signal()
	}
	return resp
}

// push queues an event; false if the link is closed. Past MaxUnacked the
// oldest event is dropped (counted, logged once per episode).
func (l *link) push(ev *pb.Event, size int) bool {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return false
	}
	l.pending = append(l.pending, queuedEvent{ev: ev, size: size})
	if len(l.pending)+len(l.unacked) > l.g.cfg.MaxUnacked {
		if len(l.unacked) > 0 {
			l.unacked[0] = nil
			l.unacked = l.unacked[1:]
		} else {
			l.pending[0] = queuedEvent{}
			l.pending = l.pending[1:]
		}
		l.g.stats.eventsOverflow.Add(1)
		if !l.overflowing {
			l.overflowing = true
			l.g.log.Warn("worker is not acking: dropping its oldest unacked events", "linker", l.id, "max_unacked", l.g.cfg.MaxUnacked)
		}
	}
	l.mu.Unlock()
	l.signal()
	return true
}

// ack drops the events with seq <= n.
func (l *link) ack(n uint64) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.unacked) == 0 || n < l.unacked[0].Seq {
		return
	}
	k := min(int(n-l.unacked[0].Seq+1), len(l.unacked))
	clear(l.unacked[:k])
	l.unacked = l.unacked[k:]
	if len(l.unacked) == 0 {
		l.unacked = nil
	}
	if l.overflowing && len(l.pending)+len(l.unacked) < l.g.cfg.MaxUnacked/2 {
		l.overflowing = false
	}
}

func (l *link) reply(r *pb.Reply) {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.replies = append(l.replies, r)
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

// close marks l closed and returns the events it still holds: the
// unacked ones first (sent, so redelivered), then the unsent ones.
func (l *link) close() (unacked []*pb.Event, pending []queuedEvent) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	unacked, pending = l.unacked, l.pending
	l.unacked, l.pending, l.replies = nil, nil, nil
	return unacked, pending
}

// reroute hands the events of a closed link to the remaining workers.
// The events may still be referenced by the old stream, so they are
// copied, not modified.
func (l *link) reroute(unacked []*pb.Event, pending []queuedEvent) {
	if len(unacked) == 0 && len(pending) == 0 {
		return
	}
	g := l.g
	for _, ev := range unacked {
		g.stats.eventsRedeliv.Add(1)
		g.router.route(rendezvous.Key(g.nodeID, ev.Conn), redelivery(ev, true), eventSize(ev))
	}
	for _, q := range pending {
		g.router.route(rendezvous.Key(g.nodeID, q.ev.Conn), redelivery(q.ev, q.ev.Redelivered), q.size)
	}
	g.log.Info("link events rerouted", "linker", l.id, "unacked", len(unacked), "unsent", len(pending))
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

// eventSize estimates an event's encoded size for batching.
func eventSize(ev *pb.Event) int {
	n := eventOverhead + len(ev.Uid)
	for k, v := range ev.Session {
		n += len(k) + len(v) + 4
	}
	switch k := ev.Kind.(type) {
	case *pb.Event_Message:
		n += len(k.Message.GetData())
	case *pb.Event_Connect:
		for _, h := range k.Connect.GetHeaders() {
			n += len(h.GetName()) + len(h.GetValue()) + 8
		}
	}
	return n
}
