package linker

import (
	"context"
	"sync"
	"sync/atomic"
	"time"
)

// task is one event to run.
type task struct {
	ev    Event
	acker *acker
	link  *link
}

// clientKey identifies a client: its gateway and connection.
type clientKey struct{ node, conn uint64 }

// dispatcher runs events with one queue per client: a client's events run
// one at a time and in order, on a goroutine that lives while the client has
// events queued; different clients never wait for each other, so a stuck
// handler holds up only its own client. The gateways' windows bound the
// events in hand, hence the goroutines.
type dispatcher struct {
	handler EventHandler
	ctx     context.Context // given to handlers; set by run
	start   func(func())    // starts a client goroutine; set by run
	shards  [dispatchShards]dshard

	inHand   atomic.Int64 // events pushed and not finished
	skipping atomic.Bool  // drop queued events without running them

	slowAfter time.Duration
	onSlow    func(node, conn uint64, kind string, running time.Duration)

	mu   sync.Mutex
	idle chan struct{} // closed when inHand drops to 0 (Drain waits on it)
}

const dispatchShards = 64

type dshard struct {
	mu      sync.Mutex
	clients map[clientKey]*clientQueue
}

// clientQueue is the events of one client waiting to run, and the start of
// the one running (for the watchdog).
type clientQueue struct {
	q        []task // q[head:] waits; guarded by the shard's mu
	head     int
	started  atomic.Int64 // unix nanos the running handler began; 0: none
	kind     atomic.Int32 // kind of the running event (eventKind)
	reported int64        // the started value already reported (watchdog only)
}

func newDispatcher(h EventHandler, slowAfter time.Duration, onSlow func(node, conn uint64, kind string, running time.Duration)) *dispatcher {
	d := &dispatcher{handler: h, slowAfter: slowAfter, onSlow: onSlow}
	for i := range d.shards {
		d.shards[i].clients = make(map[clientKey]*clientQueue)
	}
	return d
}

func (d *dispatcher) shardOf(k clientKey) *dshard {
	x := k.node ^ k.conn*0x9e3779b97f4a7c15
	x ^= x >> 31
	return &d.shards[x%dispatchShards]
}

// push queues t behind the events of its client; it never blocks.
func (d *dispatcher) push(t task) {
	d.inHand.Add(1)
	k := clientKey{t.ev.Gateway, t.ev.Ev.GetConn()}
	s := d.shardOf(k)
	s.mu.Lock()
	cq := s.clients[k]
	start := cq == nil
	if start {
		cq = &clientQueue{}
		s.clients[k] = cq
	}
	cq.q = append(cq.q, t)
	s.mu.Unlock()
	if start {
		d.start(func() { d.runClient(s, k, cq) })
	}
}

// runClient runs the events of one client until its queue is empty.
func (d *dispatcher) runClient(s *dshard, k clientKey, cq *clientQueue) {
	for {
		s.mu.Lock()
		if cq.head == len(cq.q) {
			delete(s.clients, k)
			s.mu.Unlock()
			return
		}
		t := cq.q[cq.head]
		cq.q[cq.head] = task{}
		cq.head++
		if cq.head > 64 && cq.head*2 > len(cq.q) {
			cq.q = append([]task(nil), cq.q[cq.head:]...)
			cq.head = 0
		}
		s.mu.Unlock()
		d.runTask(cq, t)
	}
}

// runTask runs one event and acks it. An event whose link session ended
// before it started is not run: the gateway hands it to another worker. One
// whose handler was cut short by ctx is not acked either (at least once).
func (d *dispatcher) runTask(cq *clientQueue, t task) {
	defer d.finished()
	ctx := d.ctx
	if d.skipping.Load() || ctx.Err() != nil || t.acker.isDetached() {
		return
	}
	if d.slowAfter > 0 {
		cq.kind.Store(eventKind(t.ev))
		cq.started.Store(time.Now().UnixNano())
	}
	d.handler(ctx, t.ev)
	cq.started.Store(0)
	if ctx.Err() == nil && t.acker.complete(t.ev.Ev.GetSeq()) {
		t.link.queue.wake()
	}
}

func (d *dispatcher) finished() {
	if d.inHand.Add(-1) != 0 {
		return
	}
	d.mu.Lock()
	if d.idle != nil {
		close(d.idle)
		d.idle = nil
	}
	d.mu.Unlock()
}

// wait blocks until no event is in hand or ctx is done; then it makes the
// client goroutines drop whatever is still queued.
func (d *dispatcher) wait(ctx context.Context) error {
	d.mu.Lock()
	if d.idle == nil {
		d.idle = make(chan struct{})
	}
	idle := d.idle
	d.mu.Unlock()
	if d.inHand.Load() == 0 { // finished before idle was set
		return nil
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		d.skipping.Store(true)
		return ctx.Err()
	}
}

// run sets the handlers' ctx and the WaitGroup of the client goroutines,
// and runs the watchdog until stop is closed. The caller waits on wg after
// the last push.
func (d *dispatcher) run(ctx context.Context, stop <-chan struct{}, wg *sync.WaitGroup) {
	d.ctx, d.start = ctx, wg.Go
	if d.slowAfter > 0 && d.onSlow != nil {
		wg.Go(func() { d.watch(stop) })
	}
}

// watch reports, once per event, each handler running longer than
// slowAfter (GatewayWorker's processTimeout).
func (d *dispatcher) watch(stop <-chan struct{}) {
	t := time.NewTicker(min(max(d.slowAfter/4, 10*time.Millisecond), time.Second))
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case now := <-t.C:
			d.scan(now.UnixNano())
		}
	}
}

func (d *dispatcher) scan(now int64) {
	type slow struct {
		k       clientKey
		kind    string
		running time.Duration
	}
	var found []slow
	for i := range d.shards {
		s := &d.shards[i]
		s.mu.Lock()
		for k, cq := range s.clients {
			st := cq.started.Load()
			if st == 0 || st == cq.reported || time.Duration(now-st) < d.slowAfter {
				continue
			}
			cq.reported = st
			found = append(found, slow{k, kindNames[cq.kind.Load()], time.Duration(now - st)})
		}
		s.mu.Unlock()
	}
	for _, f := range found {
		d.onSlow(f.k.node, f.k.conn, f.kind, f.running)
	}
}

// kindNames names the event kinds of eventKind for logs.
var kindNames = [...]string{"message", "connect", "close"}

// eventKind returns the kind of an event as an index of kindNames.
func eventKind(ev Event) int32 {
	switch {
	case ev.Ev.GetConnect() != nil:
		return 1
	case ev.Ev.GetClose() != nil:
		return 2
	}
	return 0
}
