package gateway

import (
	"slices"
	"sync"
	"sync/atomic"

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
	// dropping is set while events are dropped for want of a worker (logged
	// once per transition).
	dropping atomic.Bool
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

// route hands ev (of the client with routing key key) to its worker, or
// drops it when no worker is linked. size estimates its encoded size.
func (r *router) route(key uint64, ev *pb.Event, size int) {
	for {
		ws := r.workers.Load()
		if len(ws.links) == 0 {
			r.g.stats.eventsDropped.Add(1)
			if r.dropping.CompareAndSwap(false, true) {
				r.g.log.Warn("no worker linked: dropping client events")
			}
			return
		}
		l := ws.links[rendezvous.Pick(key, ws.hashes)]
		if l.push(ev, size) {
			return
		}
		// l is closing and already out of the set: pick again.
	}
}

// emitLocked sends an event of c to its worker, filling in the client's
// uid and session. The caller holds c.mu, which orders c's events.
func (g *Gateway) emitLocked(c *conn, ev *pb.Event, size int) {
	ev.Conn = c.seq
	ev.Uid = c.uid
	ev.Session = c.session
	ev.SessionVersion = c.sessionVer
	g.router.route(c.key(), ev, size+len(c.uid)+c.sessionSize+eventOverhead)
}
