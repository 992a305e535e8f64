package linker

import (
	"context"
	"sync"
	"sync/atomic"
)

// task is one event in a dispatch shard.
type task struct {
	ev    Event
	acker *acker
	link  *link
}

// dispatcher runs events on a fixed set of shard goroutines; a client's
// events always go to the same shard, so they run in order.
type dispatcher struct {
	handler EventHandler
	shards  []*shard

	inHand   atomic.Int64 // events pushed and not finished
	skipping atomic.Bool  // drop queued events without running them

	mu   sync.Mutex
	idle chan struct{} // closed when inHand drops to 0 (Drain waits on it)
}

type shard struct {
	mu     sync.Mutex
	q      []task
	head   int
	signal chan struct{} // cap 1
}

func newDispatcher(n int, h EventHandler) *dispatcher {
	d := &dispatcher{handler: h, shards: make([]*shard, n)}
	for i := range d.shards {
		d.shards[i] = &shard{signal: make(chan struct{}, 1)}
	}
	return d
}

// shardOf spreads clients over the shards (SplitMix64 finalizer).
func (d *dispatcher) shardOf(node, conn uint64) *shard {
	x := node ^ conn*0x9e3779b97f4a7c15
	x ^= x >> 30
	x *= 0xbf58476d1ce4e5b9
	x ^= x >> 27
	x *= 0x94d049bb133111eb
	x ^= x >> 31
	return d.shards[x%uint64(len(d.shards))]
}

// push queues t; it never blocks (the receiver must keep reading replies).
func (d *dispatcher) push(t task) {
	d.inHand.Add(1)
	s := d.shardOf(t.ev.Gateway, t.ev.Ev.GetConn())
	s.mu.Lock()
	s.q = append(s.q, t)
	s.mu.Unlock()
	select {
	case s.signal <- struct{}{}:
	default:
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
// shards drop whatever is still queued.
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

// run runs the shard goroutines until stop is closed; ctx is given to
// handlers.
func (d *dispatcher) run(ctx context.Context, stop <-chan struct{}, wg *sync.WaitGroup) {
	for _, s := range d.shards {
		wg.Go(func() { d.runShard(ctx, s, stop) })
	}
}

func (d *dispatcher) runShard(ctx context.Context, s *shard, stop <-chan struct{}) {
	for {
		s.mu.Lock()
		if s.head == len(s.q) {
			s.q = s.q[:0]
			s.head = 0
			if cap(s.q) > 1024 {
				s.q = nil
			}
			s.mu.Unlock()
			select {
			case <-s.signal:
				continue
			case <-stop:
				return
			}
		}
		t := s.q[s.head]
		s.q[s.head] = task{}
		s.head++
		s.mu.Unlock()
		// An event whose handler was cut short by ctx is not acked: the
		// gateway hands it to another worker (at least once).
		if !d.skipping.Load() && ctx.Err() == nil {
			d.handler(ctx, t.ev)
			if ctx.Err() == nil && t.acker.complete(t.ev.Ev.GetSeq()) {
				t.link.queue.wake()
			}
		}
		d.finished()
	}
}
