package businessworker

import (
	"context"
	"fmt"
	"github.com/gatewayworker/gatewayworker/internal/errtext"
	"log/slog"
	"runtime/debug"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/discovery"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	"github.com/gatewayworker/gatewayworker/internal/rendezvous"
	"github.com/gatewayworker/gatewayworker/internal/wsconn"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Worker links to every live gateway, handles client events with the
// Handler and offers the API (embedded). Make one with New. The zero Worker
// is not usable but does not panic: Run and the API calls return
// ErrNotInitialized, ID returns "" and IsLeader false.
type Worker struct {
	*API
	cfg     Config
	log     *slog.Logger
	l       *linker.Linker
	lease   *discovery.Lease // nil with a test Source: no registers to hold it
	states  clientStates
	timers  scheduler
	started chan struct{} // closed when OnWorkerStart has returned
	running atomic.Bool
	metrics workerMetrics // Prometheus counters (metrics.go)
}

// New validates cfg and returns a Worker; Run starts it.
func New(cfg Config) (*Worker, error) { return newWorker(cfg, nil) }

// newWorker lets tests replace the registers with a Source.
func newWorker(cfg Config, src linker.Source) (*Worker, error) {
	if err := cfg.validate(src != nil); err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:     cfg,
		log:     cfg.Logger,
		states:  clientStates{maxAge: cfg.MaxQueueAge, m: make(map[clientid.ID]*clientState)},
		started: make(chan struct{}),
	}
	w.metrics.init()
	l, err := linker.New(linker.Config{
		Registers:    cfg.Registers,
		Source:       src,
		Secret:       cfg.Secret,
		Name:         cfg.Name,
		Events:       true,
		HoldEvents:   true, // until OnWorkerStart returns
		Handler:      w.handle,
		MaxQueueAge:  cfg.MaxQueueAge,
		WindowEvents: cfg.EventWindow,
		WindowBytes:  cfg.EventWindowBytes,
		SlowHandler:  cfg.SlowHandler,
		DialOptions:  append(dialOptions(cfg.TLS), w.metrics.grpc.DialOptions()...),
		Logger:       cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, errtext.Strip(err))
	}
	w.l = l
	w.API = &API{l: l}
	if src == nil {
		w.lease, err = discovery.NewLease(discovery.LeaseConfig{
			Registers:   cfg.Registers,
			Secret:      cfg.Secret,
			DialOptions: dialOptions(cfg.TLS),
			Holder:      l.ID(),
			TTL:         cfg.LeaderLeaseTTL,
			Logger:      cfg.Logger,
		})
		if err != nil {
			return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, errtext.Strip(err))
		}
	}
	if err := w.registerMetrics(cfg.Metrics); err != nil {
		return nil, err
	}
	w.timers.wake = make(chan struct{}, 1)
	return w, nil
}

// ID returns the worker's id (as Workers lists it): random per Worker, the
// same on every gateway; "" for the zero Worker.
func (w *Worker) ID() string {
	if w.l == nil {
		return ""
	}
	return w.l.ID()
}

// DefaultLeaderLeaseTTL is the Config.LeaderLeaseTTL of a zero Config.
const DefaultLeaderLeaseTTL = 5 * time.Second

// IsLeader reports whether this worker holds the leader lease now: more
// than half of the registers of the cluster grant it, and by this worker's
// clock none of those grants can have ended (see docs/concepts.md, "Leader
// lease"). At most one worker of a cluster is leader at any moment.
func (w *Worker) IsLeader() bool {
	_, ok := w.leaderTerm()
	return ok
}

// leaderTerm returns the lease term this worker leads in. Without registers
// (a test Source) there is no lease: the lowest worker id the gateways
// report leads, with token 0 and no end signal.
func (w *Worker) leaderTerm() (discovery.Term, bool) {
	if w.l == nil {
		return discovery.Term{}, false
	}
	if w.lease == nil {
		return discovery.Term{}, w.l.IsLeader()
	}
	return w.lease.Held()
}

// LeaderToken returns the fencing token of the leader lease under which a
// WithLeaderOnly timer function runs, from the ctx it was given: higher
// than the token of every earlier leader, so a store that remembers the
// highest token it saw can refuse the writes of a leader that has since
// been replaced. ok is false for any other ctx.
func LeaderToken(ctx context.Context) (token uint64, ok bool) {
	token, ok = ctx.Value(leaderTokenKey{}).(uint64)
	return token, ok && token != 0
}

type leaderTokenKey struct{}

// Run links to the gateways and handles events until ctx is done. It calls
// OnWorkerStart first: meanwhile the worker is linked as a push client, so
// the API works and the gateways route no event to it; once it returns, the
// links are renewed as a worker's and events come. When ctx is done it
// stops the timers, stops taking events and finishes those in hand (bounded
// by StopTimeout; events not handled then go to other workers), flushes the
// commands, calls OnWorkerStop, flushes again, unlinks and returns nil. It
// returns ErrRunning if called twice, ErrNotInitialized on a zero Worker.
func (w *Worker) Run(ctx context.Context) error {
	if w.l == nil {
		return ErrNotInitialized
	}
	if !w.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	lctx, unlink := context.WithCancel(context.WithoutCancel(ctx))
	defer unlink()
	linkErr := make(chan error, 1)
	go func() { linkErr <- w.l.Run(lctx) }()
	// The lease outlives the timers: it is released (another worker leads
	// at once) after the last leader-only run has returned.
	leaseCtx, stopLease := context.WithCancel(context.WithoutCancel(ctx))
	leaseDone := make(chan struct{})
	go func() {
		defer close(leaseDone)
		if w.lease == nil {
			return
		}
		if err := w.lease.Run(leaseCtx); err != nil {
			w.log.Error("leader lease", "err", err)
		}
	}()
	w.log.Info("worker started", "name", w.cfg.Name, "id", w.ID())

	w.safely("OnWorkerStart", func() { w.cfg.Handler.OnWorkerStart(ctx, w) })
	w.l.OpenEvents()
	close(w.started)
	tctx, stopTimers := context.WithCancel(ctx)
	var timers sync.WaitGroup
	timers.Go(func() { w.timers.run(tctx, w) })
	timers.Go(func() { w.sweepClients(tctx) })

	var err error
	select {
	case <-ctx.Done():
	case err = <-linkErr: // the discovery failed for good
		linkErr <- err
	}
	stopTimers()
	timers.Wait()
	stopLease()
	<-leaseDone
	w.log.Info("worker draining: finishing the events in hand", "stop_timeout", w.cfg.StopTimeout)

	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), w.cfg.StopTimeout)
	if derr := w.l.Drain(sctx); derr != nil {
		w.log.Warn("stop: events still in hand were left to other workers", "err", derr)
	}
	cancel()
	sctx, cancel = context.WithTimeout(context.WithoutCancel(ctx), w.cfg.StopTimeout)
	defer cancel()
	if ferr := w.l.Flush(sctx); ferr != nil {
		w.log.Warn("stop: flush", "err", ferr)
	}
	w.safely("OnWorkerStop", func() { w.cfg.Handler.OnWorkerStop(sctx, w) })
	if ferr := w.l.Flush(sctx); ferr != nil {
		w.log.Warn("stop: flush", "err", ferr)
	}
	unlink()
	if lerr := <-linkErr; err == nil {
		err = lerr
	}
	w.log.Info("worker stopped")
	return err
}

// handle runs the handler for one event (on a linker dispatch goroutine).
func (w *Worker) handle(ctx context.Context, ev linker.Event) {
	select {
	case <-w.started:
	case <-ctx.Done():
		return
	}
	defer w.metrics.handled(ev.Ev, time.Now())
	e := ev.Ev
	id := clientid.ID{Node: ev.Gateway, Conn: e.GetConn()}
	remote, session, version := w.states.begin(id, e, time.Now())
	c := &Client{
		w:       w,
		id:      id,
		idStr:   id.String(),
		remote:  remote,
		uid:     e.GetUid(),
		base:    session,
		version: version,
	}
	redelivered := e.GetRedelivered()
	h := w.cfg.Handler
	switch k := e.GetKind().(type) {
	case *pb.Event_Connect:
		hs := Handshake{Path: k.Connect.GetPath(), RawQuery: k.Connect.GetQuery(), RemoteAddr: remote, Subprotocol: k.Connect.GetSubprotocol()}
		for _, hd := range k.Connect.GetHeaders() {
			hs.Headers = append(hs.Headers, Header{Name: hd.GetName(), Value: hd.GetValue()})
		}
		var (
			reply ConnectReply
			err   error
		)
		w.safely("OnConnect", func() {
			reply, err = h.OnConnect(ctx, ConnectEvent{Client: c, Handshake: hs, RemoteAddr: remote, Redelivered: redelivered})
		})
		// The reply's commands are queued before this function returns,
		// so before the event is acked: the gateway applies them before
		// it routes the client's first message.
		if !w.applyConnectReply(ctx, c, reply, err) {
			return
		}
	case *pb.Event_Message:
		msg := Message{Data: k.Message.GetData(), Binary: k.Message.GetBinary()}
		w.safely("OnMessage", func() { h.OnMessage(ctx, MessageEvent{Client: c, Message: msg, Redelivered: redelivered}) })
	case *pb.Event_Close:
		w.safely("OnClose", func() { h.OnClose(ctx, CloseEvent{Client: c, Redelivered: redelivered}) })
		w.states.forget(id)
		return
	default:
		w.log.Warn("unknown event kind", "client", c.idStr)
		return
	}
	if set, del := c.changes(); len(set) > 0 || len(del) > 0 {
		// Only the keys the handler set and deleted: the gateway merges
		// them, keeping what the API changed meanwhile. The command is
		// queued before the event is acked, on the same link, so the
		// gateway applies it before it forgets the event.
		if err := w.l.Enqueue(ctx, id.Node, updateSessionCmd(id.Conn, set, del)); err != nil {
			w.log.Warn("session write-back", "client", c.idStr, "err", err)
			return
		}
		w.states.wrote(id, set, del, version, time.Now())
	}
}

// applyConnectReply queues the commands of OnConnect's reply (or its
// error) for the client's gateway: a close, or a bind, joins and the
// reply's session keys (merged into the handler's session changes, which
// the caller writes back). It reports whether the caller should write the
// session back (false when the client is closed).
func (w *Worker) applyConnectReply(ctx context.Context, c *Client, reply ConnectReply, err error) bool {
	if err != nil {
		w.log.Warn("OnConnect failed: closing the client", "client", c.idStr, "err", err)
		w.metrics.connectRefused.Add(1)
		if cerr := w.CloseClient(ctx, c.idStr, WithCloseCode(1011, "internal error")); cerr != nil {
			w.log.Warn("OnConnect: close", "client", c.idStr, "err", cerr)
		}
		return false
	}
	if r := reply.Refuse; r != nil {
		code := r.Code
		if !wsconn.ValidCloseCode(code) {
			if code != 0 {
				w.log.Warn("OnConnect: invalid refusal close code, sending the default", "client", c.idStr, "code", code, "default", DefaultRefusalCode)
			}
			code = DefaultRefusalCode // the gateway would refuse the close
		}
		w.metrics.connectRefused.Add(1)
		if cerr := w.CloseClient(ctx, c.idStr, WithCloseCode(code, r.Reason)); cerr != nil {
			w.log.Warn("OnConnect: refuse", "client", c.idStr, "err", cerr)
		}
		return false
	}
	if reply.UID != "" {
		if berr := w.BindUID(ctx, c.idStr, reply.UID); berr != nil {
			w.log.Warn("OnConnect: bind uid", "client", c.idStr, "err", berr)
		}
	}
	for _, g := range reply.Groups {
		if jerr := w.JoinGroup(ctx, c.idStr, g); jerr != nil {
			w.log.Warn("OnConnect: join group", "client", c.idStr, "group", g, "err", jerr)
		}
	}
	if len(reply.Session) > 0 {
		s := c.Session()
		for k, v := range reply.Session {
			s[k] = v
		}
	}
	return true
}

// sweepClients forgets, every sweepInterval until ctx is done, the clients
// this worker will get no more events of: those of a gateway that left the
// set, those the gateway now routes to another worker (a worker joined),
// and those idle for ClientIdleTimeout.
func (w *Worker) sweepClients(ctx context.Context) {
	t := time.NewTicker(w.sweepInterval())
	defer t.Stop()
	for {
		select {
		case <-t.C:
			w.sweepOnce(time.Now())
		case <-ctx.Done():
			return
		}
	}
}

// sweepInterval is how often sweepClients runs: DefaultClientSweepInterval,
// or more often for a short ClientIdleTimeout.
func (w *Worker) sweepInterval() time.Duration {
	return min(DefaultClientSweepInterval, max(w.cfg.ClientIdleTimeout/4, time.Millisecond))
}

func (w *Worker) sweepOnce(now time.Time) {
	nodes := w.l.Nodes()
	// owner[node] picks the worker the gateway routes a client to; nil
	// when that cannot be told now (link down, or this worker not in the
	// gateway's set yet): keep its clients.
	owner := make(map[uint64]func(conn uint64) bool, len(nodes))
	for _, n := range nodes {
		ids := w.l.GatewayWorkers(n)
		if !slices.Contains(ids, w.ID()) {
			owner[n] = nil
			continue
		}
		hashes := make([]uint64, len(ids))
		for i, id := range ids {
			hashes[i] = rendezvous.HashString(id)
		}
		self := slices.Index(ids, w.ID())
		owner[n] = func(conn uint64) bool { return rendezvous.Pick(rendezvous.Key(n, conn), hashes) == self }
	}
	forgot := w.states.sweep(func(id clientid.ID) bool {
		mine, live := owner[id.Node]
		return live && (mine == nil || mine(id.Conn))
	}, now.Add(-w.cfg.ClientIdleTimeout))
	if forgot > 0 {
		w.log.Debug("forgot clients", "n", forgot)
	}
}

// safely runs a handler, turning a panic into a log record.
func (w *Worker) safely(name string, fn func()) {
	defer func() {
		if r := recover(); r != nil {
			w.metrics.panics.Add(1)
			w.log.Error("handler panicked", "handler", name, "panic", r, "stack", string(debug.Stack()))
		}
	}()
	fn()
}

// Every runs fn every interval while the worker runs (GatewayWorker's
// Timer::add), starting one interval after Run starts (or after the call, if
// Run is running). Runs of one timer never overlap; a slow fn delays the next
// tick. fn's ctx is cancelled when the worker stops. With WithLeaderOnly fn
// runs only if this worker holds the leader lease at the tick (checked
// right before the call); its ctx is then also cancelled when that lease
// term ends, and carries the term's fencing token (LeaderToken). An
// interval <= 0 never runs. The
// returned stop func stops the timer; it is idempotent and does not wait for
// a run in progress.
func (w *Worker) Every(interval time.Duration, fn func(ctx context.Context), opts ...TimerOption) (stop func()) {
	t := &timer{interval: interval, fn: fn, stop: make(chan struct{})}
	for _, o := range opts {
		o(&t.opts)
	}
	var once sync.Once
	stop = func() { once.Do(func() { close(t.stop) }) }
	if interval <= 0 || fn == nil {
		return stop
	}
	w.timers.add(t)
	return stop
}

type timer struct {
	interval time.Duration
	fn       func(context.Context)
	opts     timerOptions
	stop     chan struct{}
}

// scheduler starts the timers registered with Every on Run's behalf.
type scheduler struct {
	mu      sync.Mutex
	pending []*timer
	wake    chan struct{} // cap 1
}

func (s *scheduler) add(t *timer) {
	s.mu.Lock()
	s.pending = append(s.pending, t)
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// run starts pending timers until ctx is done, then waits for them.
func (s *scheduler) run(ctx context.Context, w *Worker) {
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		s.mu.Lock()
		start := s.pending
		s.pending = nil
		s.mu.Unlock()
		for _, t := range start {
			wg.Go(func() { t.run(ctx, w) })
		}
		select {
		case <-s.wake:
		case <-ctx.Done():
			return
		}
	}
}

func (t *timer) run(ctx context.Context, w *Worker) {
	tk := time.NewTicker(t.interval)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			if !t.opts.leaderOnly {
				w.safely("Every", func() { t.fn(ctx) })
				continue
			}
			term, ok := w.leaderTerm()
			if !ok {
				continue
			}
			rctx, end := termContext(ctx, term)
			w.safely("Every", func() { t.fn(rctx) })
			end()
		case <-t.stop:
			return
		case <-ctx.Done():
			return
		}
	}
}

// termContext returns ctx carrying the term's token and cancelled when the
// term ends; end releases it.
func termContext(ctx context.Context, term discovery.Term) (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.WithValue(ctx, leaderTokenKey{}, term.Token))
	if term.Done == nil {
		return ctx, cancel
	}
	go func() { // ends with the run (end) at the latest
		select {
		case <-term.Done:
			cancel()
		case <-ctx.Done():
		}
	}()
	return ctx, cancel
}
