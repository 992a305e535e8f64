package linker

import (
	"cmp"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Linker states.
const (
	stateNew = iota
	stateRunning
	stateClosed
)

// Linker keeps one link per live gateway. Its methods are safe for concurrent
// use; commands may be issued before Run (they wait for the first set of
// gateways, bounded by their ctx).
type Linker struct {
	cfg           Config
	id            string
	log           *slog.Logger
	disp          *dispatcher
	slowHandlers  atomic.Uint64
	nextID        atomic.Uint64
	eventsStopped atomic.Bool
	eventsOpen    atomic.Bool   // with HoldEvents: OpenEvents was called
	expired       atomic.Uint64 // commands dropped for age (queue.go)

	mu             sync.RWMutex
	state          int
	links          map[uint64]*link
	ready          chan struct{} // closed on the first gateway set or on close
	haveSet        bool
	closed         chan struct{} // closed when Run has returned
	cancelHandlers context.CancelFunc
	stopBg         context.CancelFunc // cancels the Run started by Start
	// pushSessions are the sessions up without events (HoldEvents), with
	// their cancel funcs: OpenEvents ends them so that they relink as a
	// worker.
	pushSessions map[*link]context.CancelFunc
	// relinking are the links whose push session OpenEvents ended and that
	// have not started their next session.
	relinking map[*link]struct{}
}

// New validates cfg and returns a Linker; Run starts it.
func New(cfg Config) (*Linker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	var raw [16]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return nil, fmt.Errorf("linker: linker id: %w", err)
	}
	l := &Linker{
		cfg:          cfg,
		id:           hex.EncodeToString(raw[:]),
		log:          cfg.Logger,
		links:        make(map[uint64]*link),
		pushSessions: make(map[*link]context.CancelFunc),
		relinking:    make(map[*link]struct{}),
		ready:        make(chan struct{}),
		closed:       make(chan struct{}),
	}
	l.log = l.log.With("linker", l.id)
	if cfg.Events {
		l.disp = newDispatcher(cfg.Handler, cfg.SlowHandler, l.slowHandler)
	}
	if l.cfg.Source == nil {
		w, err := discovery.NewWatcher(discovery.WatcherConfig{
			Registers:   cfg.Registers,
			Secret:      cfg.Secret,
			DialOptions: cfg.DialOptions,
			MinBackoff:  cfg.MinBackoff,
			MaxBackoff:  cfg.MaxBackoff,
			Logger:      l.log,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %w", ErrConfig, err)
		}
		l.cfg.Source = w.Run
	}
	return l, nil
}

// slowHandler counts a handler running past SlowHandler and reports it
// (OnSlowHandler, or a log line).
func (l *Linker) slowHandler(node, conn uint64, kind string, running time.Duration) {
	l.slowHandlers.Add(1)
	if l.cfg.OnSlowHandler != nil {
		l.cfg.OnSlowHandler(node, conn, kind, running)
		return
	}
	l.log.Warn("event handler running long", "client", clientid.ID{Node: node, Conn: conn}.String(),
		"event", kind, "running", running.Round(time.Millisecond), "slow_handler", l.cfg.SlowHandler)
}

// SlowHandlers returns how many handlers ran past SlowHandler.
func (l *Linker) SlowHandlers() uint64 { return l.slowHandlers.Load() }

// ID returns the linker id sent in Hello: random, fixed for this Linker.
func (l *Linker) ID() string { return l.id }

// Run follows the gateway set and keeps the links until ctx is done; then it
// closes every link (sending what is queued and the last ack, bounded by
// CloseTimeout), stops the event handlers and returns. It returns nil when
// ctx is done, or the Source's error if it fails before.
func (l *Linker) Run(ctx context.Context) error {
	l.mu.Lock()
	if l.state != stateNew {
		l.mu.Unlock()
		return ErrRunning
	}
	l.state = stateRunning
	l.mu.Unlock()
	return l.run(ctx)
}

// Start runs the Linker in a goroutine it owns until Close; it returns at
// once. It does nothing if the Linker was started, run or closed before.
// With Config.Lazy, the first command or query calls it.
func (l *Linker) Start() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != stateNew {
		return
	}
	l.state = stateRunning
	ctx, cancel := context.WithCancel(context.Background())
	l.stopBg = cancel
	go func() {
		if err := l.run(ctx); err != nil {
			l.log.Error("linker stopped", "err", err)
		}
	}()
}

// Close stops a Linker started by Start (sending what is queued, bounded by
// CloseTimeout) and waits until it has stopped; a Linker never started is
// closed at once. Later commands fail with ErrClosed. A Linker run by Run
// stops when Run's ctx is done: Close only waits for that. Close is
// idempotent and safe for concurrent use; it returns nil.
func (l *Linker) Close() error {
	l.mu.Lock()
	switch {
	case l.state == stateNew:
		l.state = stateClosed
		if !l.haveSet {
			l.haveSet = true
			close(l.ready)
		}
		close(l.closed)
		l.mu.Unlock()
		return nil
	case l.stopBg != nil:
		l.stopBg()
	default: // run by Run: its caller stops it
		l.mu.Unlock()
		return nil
	}
	l.mu.Unlock()
	<-l.closed
	return nil
}

// run is the body of Run and Start; state is stateRunning.
func (l *Linker) run(ctx context.Context) error {
	hctx, hcancel := context.WithCancel(context.WithoutCancel(ctx))
	l.mu.Lock()
	l.cancelHandlers = hcancel
	l.mu.Unlock()

	var (
		shards     sync.WaitGroup
		links      sync.WaitGroup
		stopShards = make(chan struct{})
	)
	if l.disp != nil {
		l.disp.run(hctx, stopShards, &shards)
	}
	err := l.cfg.Source(ctx, func(gws []*pb.GatewayInfo) { l.update(ctx, gws, &links) })
	if err == nil {
		<-ctx.Done()
	}

	l.mu.Lock()
	l.state = stateClosed
	all := l.links
	l.links = map[uint64]*link{}
	if !l.haveSet {
		l.haveSet = true
		close(l.ready)
	}
	l.mu.Unlock()
	for _, k := range all {
		k.cancel()
	}
	links.Wait()
	hcancel()
	close(stopShards)
	shards.Wait()
	close(l.closed)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("linker: source: %w", err)
}

// update applies a new gateway set: links to new gateways, unlinks gone ones.
func (l *Linker) update(ctx context.Context, gws []*pb.GatewayInfo, wg *sync.WaitGroup) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.state != stateRunning {
		return
	}
	seen := make(map[uint64]bool, len(gws))
	for _, g := range gws {
		node := g.GetNodeId()
		if node == 0 || g.GetLanAddr() == "" || seen[node] {
			continue
		}
		seen[node] = true
		if old := l.links[node]; old != nil {
			if old.info.GetLanAddr() == g.GetLanAddr() {
				continue
			}
			old.cancel()
		}
		k := newLink(l, proto.CloneOf(g))
		kctx, cancel := context.WithCancel(ctx)
		k.cancel = cancel
		l.links[node] = k
		wg.Go(func() { k.run(kctx) })
	}
	for node, k := range l.links {
		if !seen[node] {
			k.cancel()
			delete(l.links, node)
			l.log.Info("gateway left", "gateway", formatNode(node))
		}
	}
	if !l.haveSet {
		l.haveSet = true
		close(l.ready)
	}
}

// waitReady waits for the first gateway set, starting the Linker first
// with Config.Lazy.
func (l *Linker) waitReady(ctx context.Context) error {
	if l.cfg.Lazy {
		l.Start()
	}
	select {
	case <-l.ready:
	case <-ctx.Done():
		return ctx.Err()
	}
	l.mu.RLock()
	defer l.mu.RUnlock()
	if l.state == stateClosed {
		return ErrClosed
	}
	return nil
}

// Gateways returns the gateways of the set, sorted by node id.
func (l *Linker) Gateways() []*pb.GatewayInfo {
	l.mu.RLock()
	defer l.mu.RUnlock()
	out := make([]*pb.GatewayInfo, 0, len(l.links))
	for _, k := range l.links {
		out = append(out, proto.CloneOf(k.info))
	}
	slices.SortFunc(out, func(a, b *pb.GatewayInfo) int { return cmp.Compare(a.GetNodeId(), b.GetNodeId()) })
	return out
}

// Nodes returns the node ids of the gateways in the set, sorted.
func (l *Linker) Nodes() []uint64 {
	l.mu.RLock()
	defer l.mu.RUnlock()
	nodes := make([]uint64, 0, len(l.links))
	for n := range l.links {
		nodes = append(nodes, n)
	}
	slices.Sort(nodes)
	return nodes
}

// Linked reports whether the link to node is currently up.
func (l *Linker) Linked(node uint64) bool {
	l.mu.RLock()
	k := l.links[node]
	l.mu.RUnlock()
	return k != nil && k.isUp()
}

// Workers returns the union of the worker sets the gateways reported, sorted.
func (l *Linker) Workers() []string {
	l.mu.RLock()
	var all []string
	for _, k := range l.links {
		all = append(all, k.workerSet()...)
	}
	l.mu.RUnlock()
	slices.Sort(all)
	return slices.Compact(all)
}

// IsLeader reports whether this linker has the lowest id in Workers. It is
// not a lease: two linkers may both see themselves lowest while gateways
// update. Workers lead by the registers' leader lease (discovery.Lease);
// this is their fallback only without registers (a test Source).
func (l *Linker) IsLeader() bool {
	w := l.Workers()
	return len(w) > 0 && w[0] == l.id
}

// Drain stops dispatching new events (events received from now on are not
// acked, so gateways hand them to another worker once the links close) and
// waits until the events in hand are handled. When ctx is done first, the
// handlers' ctx is cancelled, events not started are dropped unacked, and
// ctx's error is returned.
func (l *Linker) Drain(ctx context.Context) error {
	l.eventsStopped.Store(true)
	if l.disp == nil {
		return nil
	}
	if err := l.disp.wait(ctx); err != nil {
		l.mu.RLock()
		cancel := l.cancelHandlers
		l.mu.RUnlock()
		if cancel != nil {
			cancel()
		}
		return err
	}
	return nil
}

func (l *Linker) link(ctx context.Context, node uint64) (*link, error) {
	if err := l.waitReady(ctx); err != nil {
		return nil, err
	}
	l.mu.RLock()
	k := l.links[node]
	l.mu.RUnlock()
	if k == nil {
		return nil, gwErr(node, ErrNotLinked)
	}
	return k, nil
}

func sized(cmd *pb.Command) (queued, error) {
	n := proto.Size(cmd)
	if n > maxCommandBytes {
		return queued{}, fmt.Errorf("%w: %d bytes", ErrTooLarge, n)
	}
	return queued{cmd: cmd, size: n + 4}, nil
}

// Enqueue queues cmds, in order, for the gateway node. It returns once they
// are queued (they are sent asynchronously). It fails at once with
// ErrNotLinked when node is not in the gateway set. Commands still queued
// MaxQueueAge after the call (the link is down, or too slow) are dropped
// unsent and counted in ExpiredCommands.
func (l *Linker) Enqueue(ctx context.Context, node uint64, cmds ...*pb.Command) error {
	items := make([]queued, len(cmds))
	for i, c := range cmds {
		it, err := sized(c)
		if err != nil {
			return err
		}
		items[i] = it
	}
	k, err := l.link(ctx, node)
	if err != nil {
		return err
	}
	return gwErr(node, k.queue.push(ctx, k.isUp, items...))
}

// EnqueueAll queues build(node) for every gateway of the set; build may
// return nil to skip a gateway. The errors of the gateways that failed are
// joined.
func (l *Linker) EnqueueAll(ctx context.Context, build func(node uint64) *pb.Command) error {
	if err := l.waitReady(ctx); err != nil {
		return err
	}
	var errs []error
	for _, node := range l.Nodes() {
		cmd := build(node)
		if cmd == nil {
			continue
		}
		// A gateway that left the set since Nodes has no clients to reach.
		if err := l.Enqueue(ctx, node, cmd); err != nil && !errors.Is(err, ErrNotLinked) {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Reply is one gateway's answer to a Request.
type Reply struct {
	Node  uint64
	Reply *pb.Reply
}

// Request sends build(node) with a fresh command id to every node in nodes
// (nil: every gateway of the set) in parallel and waits for the replies,
// under ctx (DefaultQueryTimeout when ctx has no deadline). It returns the
// replies that came, sorted by node, and the joined errors of the gateways
// that failed, were down or did not answer in time, each naming its gateway.
// A reply carrying an error text is returned and also counts as failed
// (ErrReply).
func (l *Linker) Request(ctx context.Context, nodes []uint64, build func(node uint64) *pb.Command) ([]Reply, error) {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, l.cfg.QueryTimeout)
		defer cancel()
	}
	if err := l.waitReady(ctx); err != nil {
		return nil, err
	}
	if nodes == nil {
		nodes = l.Nodes()
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		replies []Reply
		errs    []error
	)
	for _, node := range nodes {
		cmd := build(node)
		if cmd == nil {
			continue
		}
		wg.Go(func() {
			r, err := l.request(ctx, node, cmd)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs = append(errs, err)
			}
			if r != nil {
				replies = append(replies, Reply{Node: node, Reply: r})
			}
		})
	}
	wg.Wait()
	slices.SortFunc(replies, func(a, b Reply) int {
		switch {
		case a.Node < b.Node:
			return -1
		case a.Node > b.Node:
			return 1
		}
		return 0
	})
	return replies, errors.Join(errs...)
}

func (l *Linker) request(ctx context.Context, node uint64, cmd *pb.Command) (*pb.Reply, error) {
	id := l.nextID.Add(1)
	cmd.Id = id
	it, err := sized(cmd)
	if err != nil {
		return nil, gwErr(node, err)
	}
	k, err := l.link(ctx, node)
	if err != nil {
		return nil, err
	}
	ch, err := k.expect(ctx, id)
	if err != nil {
		return nil, gwErr(node, err)
	}
	if err := k.queue.push(ctx, k.isUp, it); err != nil {
		k.forget(id)
		return nil, gwErr(node, err)
	}
	select {
	case res := <-ch:
		if res.err != nil {
			return nil, gwErr(node, res.err)
		}
		if e := res.reply.GetError(); e != "" {
			return res.reply, gwErr(node, fmt.Errorf("%w: %s", ErrReply, e))
		}
		return res.reply, nil
	case <-ctx.Done():
		k.forget(id)
		return nil, gwErr(node, ctx.Err())
	}
}

// Flush returns once every gateway of the set has applied every command this
// linker queued for it before the call.
func (l *Linker) Flush(ctx context.Context) error {
	if !l.cfg.Lazy {
		select {
		case <-l.ready:
		default:
			// No gateway set yet, so no command can have been queued:
			// nothing to flush, and nothing to wait for (a worker that
			// never reached a register must still stop promptly). A lazy
			// linker's first Flush starts it, like any first call.
			return nil
		}
	}
	_, err := l.Request(ctx, nil, func(uint64) *pb.Command { return &pb.Command{} })
	return err
}

func formatNode(node uint64) string { return clientid.FormatNode(node) }

// ExpiredCommands returns the number of commands dropped unsent because they
// waited in a gateway's queue longer than MaxQueueAge.
func (l *Linker) ExpiredCommands() uint64 { return l.expired.Load() }

// GatewayWorkers returns the worker ids the gateway node last reported over
// a link that is up, sorted; nil when the node is not linked now.
func (l *Linker) GatewayWorkers(node uint64) []string {
	l.mu.RLock()
	k := l.links[node]
	l.mu.RUnlock()
	if k == nil {
		return nil
	}
	return k.workerSet()
}

// takesEvents reports whether a new link session says Hello as a worker.
func (l *Linker) takesEvents() bool {
	return l.cfg.Events && (!l.cfg.HoldEvents || l.eventsOpen.Load())
}

// OpenEvents makes a Linker configured with HoldEvents a worker. Its
// sessions so far said Hello without events (as a push client, to which
// gateways route no event); each is ended like at shutdown (the commands
// queued are sent first) and the link is made again at once as a worker's,
// so that the gateways start routing events to it. OpenEvents returns once
// those links are up again, or after DialTimeout+CloseTimeout for a gateway
// that does not answer. Replies awaited on an ended session fail with
// ErrLinkDown, and so do queries made while its link is remade.
// OpenEvents is idempotent; without HoldEvents it does nothing.
func (l *Linker) OpenEvents() {
	if !l.cfg.Events || !l.cfg.HoldEvents || l.eventsOpen.Swap(true) {
		return
	}
	l.mu.Lock()
	ended := l.pushSessions
	l.pushSessions = make(map[*link]context.CancelFunc)
	for k := range ended {
		l.relinking[k] = struct{}{}
	}
	l.mu.Unlock()
	for _, end := range ended {
		end()
	}
	deadline := time.Now().Add(l.cfg.DialTimeout + l.cfg.CloseTimeout)
	for time.Now().Before(deadline) {
		l.mu.RLock()
		waiting := false
		for k := range ended {
			_, again := l.relinking[k]
			if l.links[k.node] == k && (again || !k.isUp()) {
				waiting = true
				break
			}
		}
		l.mu.RUnlock()
		if !waiting {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	l.mu.Lock()
	for k := range ended {
		delete(l.relinking, k)
	}
	l.mu.Unlock()
}

// sessionCtx returns the ctx of k's next session (link.run). A session of a
// worker still holding its events (HoldEvents) says Hello without events
// and can be ended by OpenEvents; relink reports, once the session is over,
// whether OpenEvents ended it.
func (l *Linker) sessionCtx(ctx context.Context, k *link) (sctx context.Context, relink func() bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.relinking, k)
	if l.takesEvents() || !l.cfg.Events {
		return ctx, func() bool { return false }
	}
	sctx, cancel := context.WithCancel(ctx)
	l.pushSessions[k] = cancel
	return sctx, func() bool {
		l.mu.Lock()
		delete(l.pushSessions, k)
		l.mu.Unlock()
		cancel()
		return l.eventsOpen.Load()
	}
}
