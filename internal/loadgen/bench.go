package loadgen

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// startMargin is the time between the end of connecting and the start of
// the window, enough for every child process to get the window.
const startMargin = 200 * time.Millisecond

// part is the share of a run held by one process: this one or a child.
type part interface {
	connect(ctx context.Context) error
	run(ctx context.Context, win Window) error
	stats(withLatency bool) Stats
	close() error
}

// Bench runs one scenario over one or more processes.
type Bench struct {
	cfg   Config
	log   *slog.Logger
	procs int

	mu  sync.Mutex
	ran bool
}

// New validates cfg and returns a Bench.
func New(cfg Config) (*Bench, error) {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Worker.Logger == nil {
		cfg.Worker.Logger = cfg.Logger
	}
	if cfg.Duration == 0 {
		cfg.Duration = DefaultDuration
	}
	if cfg.ProgressInterval <= 0 {
		cfg.ProgressInterval = DefaultProgressInterval
	}
	if cfg.Worker.URL == "" && len(cfg.Worker.URLs) > 0 {
		cfg.Worker.URL = cfg.Worker.URLs[0]
	}
	setDefault(&cfg.ConnsPerProc, DefaultConnsPerProc)
	switch {
	case cfg.Duration < 0, cfg.Warmup < 0, cfg.Procs < 0:
		return nil, fmt.Errorf("%w: negative duration, warmup or procs", ErrInvalidConfig)
	case cfg.Idle && (cfg.Worker.Senders > 0 || cfg.Worker.Rate > 0 || cfg.Worker.ClosedLoop):
		return nil, fmt.Errorf("%w: idle runs have no senders", ErrInvalidConfig)
	case !cfg.Idle && cfg.Worker.Senders == 0:
		return nil, fmt.Errorf("%w: need senders (or idle)", ErrInvalidConfig)
	case cfg.Worker.Conns == 0:
		return nil, fmt.Errorf("%w: need connections", ErrInvalidConfig)
	}
	for _, pid := range cfg.PIDs {
		if pid <= 0 {
			return nil, fmt.Errorf("%w: pid %d", ErrInvalidConfig, pid)
		}
	}
	// Validate the worker settings once, on a copy.
	check := cfg.Worker
	if err := check.setDefaults(); err != nil {
		return nil, err
	}
	cfg.Worker.TotalSenders = cfg.Worker.Senders
	procs := cfg.Procs
	if procs == 0 {
		procs = (cfg.Worker.Conns + cfg.ConnsPerProc - 1) / cfg.ConnsPerProc
	}
	procs = min(procs, cfg.Worker.Conns)
	if procs > 1 && cfg.ChildCommand == nil {
		return nil, ErrNoChildCommand
	}
	return &Bench{cfg: cfg, log: cfg.Logger, procs: procs}, nil
}

// Procs returns the number of processes the run will use.
func (b *Bench) Procs() int { return b.procs }

// shares splits the run's connections and senders over the processes.
func (b *Bench) shares(epoch int64) []WorkerConfig {
	out := make([]WorkerConfig, b.procs)
	connBase, senderBase := 0, 0
	for i := range out {
		wc := b.cfg.Worker
		wc.Logger = nil
		wc.Epoch = epoch
		wc.Conns = share(b.cfg.Worker.Conns, b.procs, i)
		wc.Senders = share(b.cfg.Worker.Senders, b.procs, i)
		wc.ConnBase, wc.SenderBase = connBase, senderBase
		connBase += wc.Conns
		senderBase += wc.Senders
		out[i] = wc
	}
	return out
}

func share(total, n, i int) int {
	s := total / n
	if i < total%n {
		s++
	}
	return s
}

// Run connects, runs the warmup and the measured window, drains and returns
// the Report. progress, if not nil, is called about once a second from
// another goroutine. Run may be called once; cancel ctx to stop it early.
// Every connection and child process is closed when it returns.
func (b *Bench) Run(ctx context.Context, progress func(Progress)) (*Report, error) {
	b.mu.Lock()
	if b.ran {
		b.mu.Unlock()
		return nil, fmt.Errorf("%w: Run called twice", ErrClosed)
	}
	b.ran = true
	b.mu.Unlock()

	epoch := MonotonicNow()
	clock := NewClock(epoch)
	before := b.samplePIDs()

	parts := make([]part, 0, b.procs)
	defer func() {
		for _, p := range parts {
			if err := p.close(); err != nil {
				b.log.Debug("close part", "err", err)
			}
		}
	}()
	for i, wc := range b.shares(epoch) {
		if b.procs == 1 {
			wc.Logger = b.cfg.Worker.Logger
			w, err := NewWorker(wc)
			if err != nil {
				return nil, err
			}
			parts = append(parts, localPart{w})
			continue
		}
		p, err := startChild(ctx, b.cfg.ChildCommand, wc, b.log.With("child", i))
		if err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}

	mon := newMonitor(b, parts, clock, progress)
	defer mon.stop()

	if err := forEach(ctx, parts, func(ctx context.Context, p part) error { return p.connect(ctx) }); err != nil {
		return nil, err
	}
	start := clock.Now() + int64(startMargin)
	win := Window{Start: start, MeasureStart: start + int64(b.cfg.Warmup)}
	win.MeasureEnd = win.MeasureStart + int64(b.cfg.Duration)
	mon.setWindow(win)
	if err := forEach(ctx, parts, func(ctx context.Context, p part) error { return p.run(ctx, win) }); err != nil {
		return nil, err
	}
	mon.stop()

	var total Stats
	for _, p := range parts {
		total.Add(p.stats(true))
	}
	startS, endS := mon.windowSamples()
	return b.report(total, before, startS, endS), nil
}

// forEach runs fn on every part at once and returns the first error; the
// other calls see ctx cancelled.
func forEach(ctx context.Context, parts []part, fn func(context.Context, part) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	errs := make([]error, len(parts))
	var wg sync.WaitGroup
	for i, p := range parts {
		wg.Go(func() {
			if errs[i] = fn(ctx, p); errs[i] != nil {
				cancel()
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sampled holds one sample of every --pids process.
type sampled struct {
	s    map[int]ProcSample
	errs map[int]error
}

func (b *Bench) samplePIDs() sampled {
	out := sampled{s: make(map[int]ProcSample, len(b.cfg.PIDs)), errs: map[int]error{}}
	for _, pid := range b.cfg.PIDs {
		s, err := SampleProc(pid)
		if err != nil {
			out.errs[pid] = err
		}
		out.s[pid] = s
	}
	return out
}

func (b *Bench) report(total Stats, before, start, end sampled) *Report {
	secs := b.cfg.Duration.Seconds()
	mode := "rate"
	switch {
	case b.cfg.Idle:
		mode = "idle"
	case b.cfg.Worker.ClosedLoop:
		mode = "closed-loop"
	}
	size := b.cfg.Worker.Size
	if size == 0 {
		size = DefaultSize
	}
	proto := b.cfg.Worker.Proto
	if proto == "" {
		proto = DefaultProto
	}
	r := &Report{
		URL:              b.cfg.Worker.URL,
		Proto:            proto,
		Mode:             mode,
		ConnsAsked:       b.cfg.Worker.Conns,
		Conns:            int(total.Receivers),
		Senders:          b.cfg.Worker.Senders,
		Rate:             b.cfg.Worker.Rate,
		Size:             size,
		Procs:            b.procs,
		Warmup:           b.cfg.Warmup.Seconds(),
		Duration:         secs,
		ConnectErrors:    total.ConnectErrors,
		ConnectError:     total.ConnectError,
		Disconnects:      total.Disconnects,
		Sent:             total.SentMeasured,
		SentPerSec:       float64(total.SentMeasured) / secs,
		Deliveries:       total.Delivered,
		DeliveriesPerSec: float64(total.Delivered) / secs,
		Expected:         total.Expected(),
		Loss:             total.Loss(),
		Dups:             total.Dups,
		Gaps:             total.Gaps,
		Bad:              total.Bad,
		Stalls:           total.Stalls,
		Latency:          latencyReport(total.Latency),
	}
	r.Compression = b.cfg.Worker.Compression
	if total.Received > 0 {
		r.WireBytesPerMessage = float64(total.WireBytes) / float64(total.Received)
	}
	for _, pid := range b.cfg.PIDs {
		var errText string
		for _, s := range []sampled{before, start, end} {
			if err := s.errs[pid]; err != nil && errText == "" {
				errText = err.Error()
			}
		}
		r.Servers = append(r.Servers, serverReport(before.s[pid], start.s[pid], end.s[pid], r.Conns, r.Deliveries, errText))
	}
	r.ServersTotal = totalServers(r.Servers, r.Conns, r.Deliveries, secs)
	if len(b.cfg.Worker.URLs) > 1 || b.cfg.Worker.Groups > 0 {
		r.URLs = b.cfg.Worker.URLs
		r.Groups = b.cfg.Worker.Groups
		r.Independent = b.cfg.Worker.Independent
	}
	return r
}

// localPart runs a share in this process.
type localPart struct{ w *Worker }

func (p localPart) connect(ctx context.Context) error         { return p.w.Connect(ctx) }
func (p localPart) run(ctx context.Context, win Window) error { return p.w.Run(ctx, win) }
func (p localPart) stats(withLatency bool) Stats              { return p.w.Stats(withLatency) }
func (p localPart) close() error                              { return p.w.Close() }
