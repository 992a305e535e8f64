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
	nextID        atomic.Uint64
	eventsStopped atomic.Bool

	mu             sync.RWMutex
	state          int
	links          map[uint64]*link
	ready          chan struct{} // closed on the first gateway set or on close
	haveSet        bool
	closed         chan struct{} // closed when Run has returned
	cancelHandlers context.CancelFunc
	stopBg         context.CancelFunc // cancels the Run started by Start
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
		cfg:    cfg,
		id:     hex.EncodeToString(raw[:]),
		log:    cfg.Logger,
		links:  make(map[uint64]*link),
		ready:  make(chan struct{}),
		closed: make(chan struct{}),
	}
	if cfg.Events {
		l.disp = newDispatcher(cfg.Concurrency, cfg.Handler)
	}
	l.log = l.log.With("linker", l.id)
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
// are queued (they are sent asynchronously).
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
