package loadgen

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Window is the timing of a run, in nanoseconds on the run's Clock. Senders
// start at Start and stop at MeasureEnd; only messages sent in
// [MeasureStart, MeasureEnd) count in the results.
type Window struct {
	Start        int64 `json:"start_ns"`
	MeasureStart int64 `json:"measure_start_ns"`
	MeasureEnd   int64 `json:"measure_end_ns"`
}

// Worker holds the connections and senders of one process.
type Worker struct {
	cfg   WorkerConfig
	log   *slog.Logger
	clock Clock

	measureStart atomic.Int64
	measureEnd   atomic.Int64

	mu       sync.Mutex
	clients  []*client
	firstErr string // first connect error, for the report
	stop     chan struct{}
	closed   bool
	dialed   bool // Connect was called
	started  bool // Run was called

	opened        atomic.Int64 // successful dials, for progress while connecting
	connectErrors atomic.Uint64
	disconnects   atomic.Uint64
	sent          atomic.Uint64
	sentMeasured  atomic.Uint64
	stalls        atomic.Uint64
	receivers     atomic.Int64 // open connections at measure start
	// Per scope (layout.go): messages sent in the window, and connections
	// open at measure start (set once, under mu).
	sentByScope      []atomic.Uint64
	receiversByScope []uint64

	readers sync.WaitGroup
	senders sync.WaitGroup
}

// NewWorker validates cfg and returns a Worker with no connection yet.
func NewWorker(cfg WorkerConfig) (*Worker, error) {
	if err := cfg.setDefaults(); err != nil {
		return nil, err
	}
	w := &Worker{
		cfg:   cfg,
		log:   cfg.Logger,
		clock: NewClock(cfg.Epoch),
		stop:  make(chan struct{}),
	}
	w.sentByScope = make([]atomic.Uint64, cfg.scopes())
	w.measureStart.Store(math.MaxInt64)
	w.measureEnd.Store(math.MaxInt64)
	return w, nil
}

// Clock returns the clock the Worker stamps messages with.
func (w *Worker) Clock() Clock { return w.clock }

// Connect opens cfg.Conns connections with at most cfg.DialConcurrency dials
// at a time. Failed dials are counted in Stats.ConnectErrors, not returned;
// the error is ctx's, ErrClosed, or ErrNoConnections when none succeeded.
// It may be called once.
func (w *Worker) Connect(ctx context.Context) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.dialed {
		w.mu.Unlock()
		return fmt.Errorf("%w: Connect called twice", ErrInvalidConfig)
	}
	w.dialed = true
	w.mu.Unlock()

	var (
		next int64 = -1
		wg   sync.WaitGroup
	)
	conns := make([]*client, w.cfg.Conns)
	for range min(w.cfg.DialConcurrency, w.cfg.Conns) {
		wg.Go(func() {
			for {
				i := int(atomic.AddInt64(&next, 1))
				if i >= w.cfg.Conns || ctx.Err() != nil {
					return
				}
				src := w.cfg.Sources[(w.cfg.ConnBase+i)%len(w.cfg.Sources)]
				sender := noSender
				if i < w.cfg.Senders {
					sender = w.cfg.SenderBase + i
				}
				target, scope := w.cfg.dialURL(i)
				c, err := dial(ctx, w, target, net.IP(src.AsSlice()), sender, scope)
				if err != nil {
					w.connectErrors.Add(1)
					w.mu.Lock()
					if w.firstErr == "" {
						w.firstErr = err.Error()
					}
					w.mu.Unlock()
					continue
				}
				conns[i] = c
				w.opened.Add(1)
			}
		})
	}
	wg.Wait()

	w.mu.Lock()
	defer w.mu.Unlock()
	for _, c := range conns {
		if c == nil {
			continue
		}
		if w.closed {
			_ = c.close()
			continue
		}
		w.clients = append(w.clients, c)
		w.readers.Go(c.readLoop)
	}
	switch {
	case ctx.Err() != nil:
		return ctx.Err()
	case w.closed:
		return ErrClosed
	case len(w.clients) == 0 && w.cfg.Conns > 0:
		return fmt.Errorf("%w: %s", ErrNoConnections, w.firstErr)
	}
	return nil
}

// lost is called by a read loop that ends.
func (w *Worker) lost(c *client, err error) {
	select {
	case <-w.stop:
		return // closing: not a disconnect
	default:
	}
	c.gone.Store(true)
	w.disconnects.Add(1)
	if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		w.log.Debug("connection lost", "sender", c.sender, "err", err)
	}
	_ = c.close()
}

// Run sends and receives over win and returns once the window has ended and
// the deliveries in flight have arrived (or cfg.DrainTimeout passed). It may
// be called once.
func (w *Worker) Run(ctx context.Context, win Window) error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return ErrClosed
	}
	if w.started {
		w.mu.Unlock()
		return fmt.Errorf("%w: Run called twice", ErrInvalidConfig)
	}
	w.started = true
	w.measureStart.Store(win.MeasureStart)
	w.measureEnd.Store(win.MeasureEnd)
	// The senders start under w.mu so that Close, which takes it first,
	// never waits on the group while it grows.
	senders := 0
	for _, c := range w.clients {
		if c.sender != noSender {
			senders++
		}
	}
	k := 0
	for _, c := range w.clients {
		if c.sender == noSender {
			continue
		}
		// Spread rate-mode senders evenly over one interval.
		offset := int64(0)
		if w.cfg.Rate > 0 && !w.cfg.Aligned {
			offset = int64(float64(time.Second) / w.cfg.Rate * float64(k) / float64(senders))
		}
		k++
		w.senders.Go(func() { w.sendLoop(ctx, c, win, offset) })
	}
	w.mu.Unlock()

	// Receivers are counted once the window opens.
	if err := w.sleepUntil(ctx, win.MeasureStart); err != nil {
		return err
	}
	w.receivers.Store(int64(w.OpenConns()))
	w.countReceivers()
	if err := w.sleepUntil(ctx, win.MeasureEnd); err != nil {
		return err
	}
	w.senders.Wait()
	return w.drain(ctx)
}

// countReceivers records the connections open per scope at measure start.
func (w *Worker) countReceivers() {
	if len(w.sentByScope) <= 1 {
		return
	}
	counts := make([]uint64, len(w.sentByScope))
	for _, c := range w.snapshotClients() {
		if !c.gone.Load() {
			counts[c.scope]++
		}
	}
	w.mu.Lock()
	w.receiversByScope = counts
	w.mu.Unlock()
}

// drain waits until no delivery arrived for cfg.DrainQuiet, at most
// cfg.DrainTimeout.
func (w *Worker) drain(ctx context.Context) error {
	deadline := time.Now().Add(w.cfg.DrainTimeout)
	tick := time.NewTicker(w.cfg.DrainQuiet / 4)
	defer tick.Stop()
	last, quietSince := w.received(), time.Now()
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-w.stop:
			return ErrClosed
		case <-tick.C:
		}
		if n := w.received(); n != last {
			last, quietSince = n, time.Now()
		} else if time.Since(quietSince) >= w.cfg.DrainQuiet {
			return nil
		}
	}
	return nil
}

func (w *Worker) received() uint64 {
	var n uint64
	for _, c := range w.snapshotClients() {
		n += c.received.Load()
	}
	return n
}

// sleepUntil waits until t on the clock, ctx's end or Close.
func (w *Worker) sleepUntil(ctx context.Context, t int64) error {
	d := w.clock.Until(t)
	if d <= 0 {
		return nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-w.stop:
		return ErrClosed
	}
}

// sendLoop is the sender of connection c: rate mode or closed loop.
func (w *Worker) sendLoop(ctx context.Context, c *client, win Window, offset int64) {
	if w.sleepUntil(ctx, win.Start+offset) != nil {
		return
	}
	var interval int64
	if w.cfg.Rate > 0 {
		interval = int64(float64(time.Second) / w.cfg.Rate)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	next := win.Start + offset
	for seq := uint32(0); ; seq++ {
		now := w.clock.Now()
		if now >= win.MeasureEnd {
			return
		}
		if err := c.send(Message{Sender: uint32(c.sender), Seq: seq, Sent: now}); err != nil {
			return // the read loop accounts the broken connection
		}
		w.sent.Add(1)
		if now >= win.MeasureStart {
			w.sentMeasured.Add(1)
			w.sentByScope[c.scope].Add(1)
		}
		var wait time.Duration
		if w.cfg.ClosedLoop {
			wait = w.cfg.ClosedLoopTimeout
		} else {
			next += interval
			if now-next > interval { // far behind: do not burst to catch up
				next = now
			}
			wait = time.Duration(next - w.clock.Now())
			if wait <= 0 {
				continue
			}
		}
		timer.Reset(wait)
	wait:
		for {
			select {
			case got := <-c.echo:
				if !w.cfg.ClosedLoop || got != seq {
					continue
				}
				timer.Stop() // Go 1.23+ timers: no stale tick after Stop
				break wait
			case <-timer.C:
				if w.cfg.ClosedLoop {
					w.stalls.Add(1)
				}
				break wait
			case <-ctx.Done():
				return
			case <-w.stop:
				return
			}
		}
	}
}

func (w *Worker) snapshotClients() []*client {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.clients
}

// OpenConns returns the number of connections opened and not lost.
func (w *Worker) OpenConns() int {
	return int(w.opened.Load()) - int(w.disconnects.Load())
}

// Stats returns the counters so far. It may be called at any time, from any
// goroutine; with withLatency the latency histogram is merged too.
func (w *Worker) Stats(withLatency bool) Stats {
	clients := w.snapshotClients()
	w.mu.Lock()
	firstErr := w.firstErr
	w.mu.Unlock()
	s := Stats{
		Conns:         int(w.opened.Load()) - int(w.disconnects.Load()),
		Senders:       w.cfg.Senders,
		ConnectErrors: w.connectErrors.Load(),
		ConnectError:  firstErr,
		Disconnects:   w.disconnects.Load(),
		Sent:          w.sent.Load(),
		SentMeasured:  w.sentMeasured.Load(),
		Stalls:        w.stalls.Load(),
		Receivers:     uint64(w.receivers.Load()),
	}
	if len(w.sentByScope) > 1 {
		s.SentByScope = make([]uint64, len(w.sentByScope))
		for i := range w.sentByScope {
			s.SentByScope[i] = w.sentByScope[i].Load()
		}
		w.mu.Lock()
		s.ReceiversByScope = append([]uint64(nil), w.receiversByScope...)
		w.mu.Unlock()
	}
	if withLatency {
		s.Latency = new(Histogram)
	}
	for _, c := range clients {
		s.Received += c.received.Load()
		s.Delivered += c.delivered.Load()
		s.Dups += c.dups.Load()
		s.Gaps += c.gaps.Load()
		s.Bad += c.bad.Load()
		s.WireBytes += c.fr.wire.Load()
		if withLatency {
			if rec := c.rec.Load(); rec != nil {
				s.Latency.AddRecorder(rec)
			}
		}
	}
	return s
}

// Close stops the senders, closes every connection and waits for all the
// goroutines of the Worker. It is idempotent.
func (w *Worker) Close() error {
	w.mu.Lock()
	if w.closed {
		w.mu.Unlock()
		return nil
	}
	w.closed = true
	close(w.stop)
	clients := w.clients
	w.mu.Unlock()
	var errs []error
	for _, c := range clients {
		if err := c.close(); err != nil {
			errs = append(errs, err)
		}
	}
	w.senders.Wait()
	w.readers.Wait()
	return errors.Join(errs...)
}

// parseAddrs is used by configs to validate source addresses.
func parseAddrs(ss []netip.Addr) error {
	for _, a := range ss {
		if !a.Is4() || !a.IsLoopback() {
			return fmt.Errorf("%w: source %s is not an IPv4 loopback address", ErrInvalidConfig, a)
		}
	}
	return nil
}
