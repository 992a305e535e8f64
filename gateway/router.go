package gateway

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	"github.com/gatewayworker/gatewayworker/internal/wsconn"

	"github.com/gatewayworker/gatewayworker/internal/rendezvous"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// router knows the links and routes client events to workers by
// rendezvous hashing of the client id.
type router struct {
	g  *Gateway
	mu sync.Mutex // serialises changes of links and workers
	// links holds every link (workers and push clients).
	links map[*link]struct{}
	// workers is the current routing set, read without locks.
	workers atomic.Pointer[workerSet]
	// dropping is set while events are held for want of a worker (logged
	// once per transition).
	dropping atomic.Bool

	// Events held while no worker is linked, in arrival order, and the
	// clients paused because of them. heldCount mirrors len(held) for the
	// lock-free check in route. heldMu is taken after conn.mu and before
	// link.mu.
	heldMu      sync.Mutex
	held        []heldEvent
	heldWaiters []*conn
	heldCount   atomic.Int64
	expiry      *time.Timer
}

// workerSet is an immutable snapshot of the links with events.
type workerSet struct {
	links  []*link
	hashes []uint64
	ids    []string // sorted, unique linker ids
}

func (r *router) init(g *Gateway) {
	r.g = g
	r.links = make(map[*link]struct{})
	r.workers.Store(&workerSet{})
}

// add registers l; it gets the worker set with its Welcome, and every
// other link gets the new set if it changed.
func (r *router) add(l *link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.links[l] = struct{}{}
	old := r.workers.Load()
	if !l.events {
		l.setWorkers(old.ids)
		return
	}
	// The newest link goes first: it wins a tie with an older link of the
	// same linker id (a reconnect while the old link is not yet seen dead).
	ws := &workerSet{
		links:  append([]*link{l}, old.links...),
		hashes: append([]uint64{l.hash}, old.hashes...),
	}
	ws.ids = workerIDs(ws.links)
	r.workers.Store(ws)
	if r.dropping.CompareAndSwap(true, false) {
		r.g.log.Info("worker linked: delivering client events again", "worker", l.name)
	}
	r.publishLocked(old.ids, ws.ids, l)
	if r.heldCount.Load() > 0 {
		go r.release()
	}
}

// remove unregisters l; events route around it from now on.
func (r *router) remove(l *link) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.links, l)
	old := r.workers.Load()
	i := slices.Index(old.links, l)
	if i < 0 {
		return
	}
	ws := &workerSet{
		links:  slices.Delete(slices.Clone(old.links), i, i+1),
		hashes: slices.Delete(slices.Clone(old.hashes), i, i+1),
	}
	ws.ids = workerIDs(ws.links)
	r.workers.Store(ws)
	r.publishLocked(old.ids, ws.ids, nil)
}

// publishLocked sends the worker ids to every link when they changed, and
// always to fresh (a new link).
func (r *router) publishLocked(old, ids []string, fresh *link) {
	changed := !slices.Equal(old, ids)
	for l := range r.links {
		if changed || l == fresh {
			l.setWorkers(ids)
		}
	}
}

func workerIDs(links []*link) []string {
	ids := make([]string, 0, len(links))
	for _, l := range links {
		ids = append(ids, l.id)
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// counts returns the number of worker links and push client links.
func (r *router) counts() (workers, push int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for l := range r.links {
		if l.events {
			workers++
		} else {
			push++
		}
	}
	return workers, push
}

// route hands ev (of the client with routing key key) to its worker. While
// no worker is linked, or earlier events are still held for want of one,
// the event is held (see hold). It never drops the event. c, when not nil,
// is the client of ev. With pause, c's reader is the caller and holds c.mu:
// c is paused when its event must wait.
func (r *router) route(key uint64, ev *pb.Event, size int, c *conn, pause bool) {
	for {
		ws := r.workers.Load()
		if len(ws.links) == 0 || r.heldCount.Load() > 0 {
			if r.hold(key, ev, size, c, pause) {
				return
			}
			continue // a worker linked meanwhile
		}
		l := ws.links[rendezvous.Pick(key, ws.hashes)]
		if l.push(ev, size, c, pause) {
			return
		}
		// l is closing and already out of the set: pick again.
	}
}

// heldEvent is an event held while no worker is linked.
type heldEvent struct {
	key  uint64
	ev   *pb.Event
	size int
	c    *conn // the client to close if no worker comes; nil for Close events
	at   time.Time
}

// hold keeps ev until a worker links (release) or NoWorkerTimeout passes
// (expire). It reports false, holding nothing, when workers are linked and
// nothing is held: the caller routes the event.
func (r *router) hold(key uint64, ev *pb.Event, size int, c *conn, pause bool) bool {
	r.heldMu.Lock()
	defer r.heldMu.Unlock()
	if len(r.held) == 0 && len(r.workers.Load().links) > 0 {
		return false
	}
	he := heldEvent{key: key, ev: ev, size: size, at: time.Now()}
	if _, isClose := ev.Kind.(*pb.Event_Close); !isClose {
		he.c = c
	}
	r.held = append(r.held, he)
	r.heldCount.Store(int64(len(r.held)))
	if c != nil && pause && !c.paused {
		c.paused = true
		r.heldWaiters = append(r.heldWaiters, c)
		r.g.stats.clientsPaused.Add(1)
	}
	if r.dropping.CompareAndSwap(false, true) {
		r.g.log.Warn("no worker linked: holding client events", "timeout", r.g.cfg.NoWorkerTimeout)
	}
	if r.expiry == nil {
		r.expiry = time.AfterFunc(r.g.cfg.NoWorkerTimeout, r.expire)
	}
	return true
}

// release routes the held events, in order, to the workers now linked and
// resumes the clients paused for want of a worker. It runs after a worker
// linked.
func (r *router) release() {
	for {
		r.heldMu.Lock()
		if len(r.workers.Load().links) == 0 {
			r.heldMu.Unlock()
			return
		}
		held, waiters := r.held, r.heldWaiters
		r.held, r.heldWaiters = nil, nil
		if len(held) == 0 {
			r.heldCount.Store(0)
			if r.expiry != nil {
				r.expiry.Stop()
				r.expiry = nil
			}
			r.heldMu.Unlock()
			resumeAll(waiters)
			return
		}
		// heldCount stays up until the held events are routed, so newer
		// events of the same clients queue behind them.
		r.heldMu.Unlock()
		for _, he := range held {
			ws := r.workers.Load()
			if len(ws.links) == 0 || !ws.links[rendezvous.Pick(he.key, ws.hashes)].push(he.ev, he.size, he.c, false) {
				r.requeue(he)
			}
		}
		resumeAll(waiters)
	}
}

// requeue puts back an event release could not hand over (the worker
// linked went away again).
func (r *router) requeue(he heldEvent) {
	r.heldMu.Lock()
	r.held = append(r.held, he)
	r.heldCount.Store(int64(len(r.held)))
	if r.expiry == nil {
		r.expiry = time.AfterFunc(r.g.cfg.NoWorkerTimeout, r.expire)
	}
	r.heldMu.Unlock()
}

// expire gives up on the events held longer than NoWorkerTimeout: their
// clients are closed with 1013 (Try Again Later), and the events counted as
// dropped.
func (r *router) expire() {
	now := time.Now()
	timeout := r.g.cfg.NoWorkerTimeout
	var closing []*conn
	r.heldMu.Lock()
	r.expiry = nil
	if len(r.workers.Load().links) > 0 {
		// A worker linked: release is under way.
		r.heldMu.Unlock()
		return
	}
	keep := r.held[:0]
	dropped := 0
	for _, he := range r.held {
		if now.Sub(he.at) < timeout {
			keep = append(keep, he)
			continue
		}
		dropped++
		if he.c != nil {
			closing = append(closing, he.c)
		}
	}
	clear(r.held[len(keep):])
	r.held = keep
	r.heldCount.Store(int64(len(keep)))
	if len(keep) > 0 {
		r.expiry = time.AfterFunc(timeout-now.Sub(keep[0].at), r.expire)
	}
	r.heldMu.Unlock()
	r.g.stats.eventsDropped.Add(uint64(dropped))
	for _, c := range closing {
		if c.close(wsconn.CloseTryAgainLater, "no worker", closeReply) {
			r.g.stats.noWorkerClosed.Add(1)
		}
	}
	if dropped > 0 {
		r.g.log.Warn("no worker linked in time: client events given up", "events", dropped, "clients_closed", len(closing))
	}
}

// resumeAll resumes the reading of paused clients.
func resumeAll(cs []*conn) {
	for _, c := range cs {
		c.resume()
	}
}

// emitLocked sends an event of c to its worker, filling in the client's
// uid and session. The caller holds c.mu, which orders c's events. It
// pauses c (c.paused) when the event must wait for room or for a worker.
func (g *Gateway) emitLocked(c *conn, ev *pb.Event, size int) {
	ev.Conn = c.seq
	ev.Uid = c.uid
	ev.Session = c.session
	ev.SessionVersion = c.sessionVer
	g.router.route(c.key(), ev, size+len(c.uid)+c.sessionSize+eventOverhead, c, true)
}

// maxEventSize is the largest event the links carry.
const maxEventSize = discovery.MaxMessageSize - 64<<10

// fitsLinkLocked reports whether a message of n bytes from c, with its uid
// and session, fits one event on the links. The caller holds c.mu.
func (c *conn) fitsLinkLocked(n int) bool {
	return n+len(c.uid)+c.sessionSize+eventOverhead <= maxEventSize
}
