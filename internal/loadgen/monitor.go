package loadgen

import (
	"sync"
	"time"
)

// monitor is the goroutine of a Run that samples the --pids processes when
// the window opens and closes, and reports progress every interval.
type monitor struct {
	b        *Bench
	parts    []part
	clock    Clock
	progress func(Progress)
	began    time.Time

	winCh chan Window
	done  chan struct{}
	once  sync.Once
	wg    sync.WaitGroup

	mu     sync.Mutex
	startS *sampled
	endS   *sampled
}

func newMonitor(b *Bench, parts []part, clock Clock, progress func(Progress)) *monitor {
	m := &monitor{
		b: b, parts: parts, clock: clock, progress: progress, began: time.Now(),
		winCh: make(chan Window, 1),
		done:  make(chan struct{}),
	}
	m.wg.Go(m.loop)
	return m
}

func (m *monitor) setWindow(win Window) { m.winCh <- win }

// stop ends the goroutine and waits for it; it is idempotent.
func (m *monitor) stop() {
	m.once.Do(func() { close(m.done) })
	m.wg.Wait()
}

// windowSamples returns the samples at the window's edges; a missing one is
// taken now. Call after stop.
func (m *monitor) windowSamples() (start, end sampled) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.startS == nil {
		s := m.b.samplePIDs()
		m.startS = &s
	}
	if m.endS == nil {
		s := m.b.samplePIDs()
		m.endS = &s
	}
	return *m.startS, *m.endS
}

func (m *monitor) loop() {
	tick := time.NewTicker(m.b.cfg.ProgressInterval)
	defer tick.Stop()
	var (
		win        *Window
		startTimer <-chan time.Time
		endTimer   <-chan time.Time
		prev       Stats
		prevAt     = time.Now()
		prevPIDs   = m.b.samplePIDs()
	)
	for {
		select {
		case <-m.done:
			return
		case w := <-m.winCh:
			win = &w
			startTimer = time.After(m.clock.Until(w.MeasureStart))
			endTimer = time.After(m.clock.Until(w.MeasureEnd))
		case <-startTimer:
			s := m.b.samplePIDs()
			m.mu.Lock()
			m.startS = &s
			m.mu.Unlock()
		case <-endTimer:
			s := m.b.samplePIDs()
			m.mu.Lock()
			m.endS = &s
			m.mu.Unlock()
		case now := <-tick.C:
			if m.progress == nil {
				continue
			}
			var cur Stats
			for _, p := range m.parts {
				cur.Add(p.stats(true))
			}
			pids := m.b.samplePIDs()
			m.progress(m.makeProgress(win, cur, prev, now.Sub(prevAt), pids, prevPIDs))
			prev, prevAt, prevPIDs = cur, now, pids
		}
	}
}

func (m *monitor) makeProgress(win *Window, cur, prev Stats, dt time.Duration, pids, prevPIDs sampled) Progress {
	p := Progress{
		Phase:         "connecting",
		Elapsed:       time.Since(m.began),
		Conns:         cur.Conns,
		ConnectErrors: cur.ConnectErrors,
		Disconnects:   cur.Disconnects,
	}
	if win != nil {
		switch now := m.clock.Now(); {
		case now < win.MeasureStart:
			p.Phase = "warmup"
		case now < win.MeasureEnd:
			p.Phase = "measure"
		default:
			p.Phase = "drain"
		}
	}
	if secs := dt.Seconds(); secs > 0 {
		p.SentPerSec = float64(cur.Sent-prev.Sent) / secs
		p.DeliveriesPerSec = float64(cur.Received-prev.Received) / secs
	}
	if cur.Latency != nil {
		p.P50 = time.Duration(cur.Latency.Quantile(0.5))
		p.P99 = time.Duration(cur.Latency.Quantile(0.99))
	}
	for _, pid := range m.b.cfg.PIDs {
		s, ps := pids.s[pid], prevPIDs.s[pid]
		sp := ServerProgress{PID: pid, RSSMB: float64(s.RSS) / (1 << 20)}
		if wall := s.At.Sub(ps.At); wall > 0 && pids.errs[pid] == nil && prevPIDs.errs[pid] == nil {
			sp.CPUPercent = 100 * (s.CPU - ps.CPU).Seconds() / wall.Seconds()
		}
		p.Servers = append(p.Servers, sp)
	}
	return p
}
