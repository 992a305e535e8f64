//go:build linux

package multihost

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// sentMsg is one message a stream sent.
type sentMsg struct {
	from, text string
	at         time.Time
}

// stream sends numbered chat messages from some clients at a fixed
// interval until stopped: the steady load whose delivery each phase checks.
// Message texts are "<phase>|<client>|<n>".
type stream struct {
	phase string
	cl    *clients

	stopc chan struct{}
	wg    sync.WaitGroup
	mu    sync.Mutex
	sent  []sentMsg
	errs  []error
}

func startStream(cl *clients, phase string, every time.Duration, from ...string) *stream {
	s := &stream{phase: phase, cl: cl, stopc: make(chan struct{})}
	s.wg.Go(func() {
		tick := time.NewTicker(every)
		defer tick.Stop()
		for n := 1; ; n++ {
			for _, id := range from {
				text := fmt.Sprintf("%s|%s|%d", phase, id, n)
				at := time.Now()
				err := cl.send(id, text)
				s.mu.Lock()
				if err != nil {
					s.errs = append(s.errs, err)
				} else {
					s.sent = append(s.sent, sentMsg{from: id, text: text, at: at})
				}
				s.mu.Unlock()
			}
			select {
			case <-tick.C:
			case <-s.stopc:
				return
			}
		}
	})
	return s
}

// stop ends the stream and returns what it sent.
func (s *stream) stop() []sentMsg {
	close(s.stopc)
	s.wg.Wait()
	return slices.Clone(s.sent)
}

// delivery is what one receiver got of a phase's messages.
type delivery struct {
	receiver   string
	sent       int
	lost       []string      // texts never received
	dups       int           // extra copies (delivery is at least once)
	maxGap     time.Duration // longest silence between two arrivals
	gapAfter   time.Time     // when that silence began
	maxLatency time.Duration // slowest first arrival after its send
}

// analyze compares what was sent with what receiver got.
func analyze(receiver string, sent []sentMsg, got []received) delivery {
	d := delivery{receiver: receiver, sent: len(sent)}
	sentAt := make(map[string]time.Time, len(sent))
	for _, m := range sent {
		sentAt[m.text] = m.at
	}
	first := map[string]time.Time{}
	var arrivals []time.Time
	for _, r := range got {
		at0, ok := sentAt[r.text]
		if !ok {
			continue
		}
		if _, seen := first[r.text]; seen {
			d.dups++
			continue
		}
		first[r.text] = r.at
		arrivals = append(arrivals, r.at)
		d.maxLatency = max(d.maxLatency, r.at.Sub(at0))
	}
	for _, m := range sent {
		if _, ok := first[m.text]; !ok {
			d.lost = append(d.lost, m.text)
		}
	}
	slices.SortFunc(arrivals, func(a, b time.Time) int { return a.Compare(b) })
	for i := 1; i < len(arrivals); i++ {
		if g := arrivals[i].Sub(arrivals[i-1]); g > d.maxGap {
			d.maxGap, d.gapAfter = g, arrivals[i-1]
		}
	}
	return d
}

func (d delivery) String() string {
	lost := strings.Join(d.lost[:min(len(d.lost), 8)], " ")
	if len(d.lost) > 8 {
		lost += fmt.Sprintf(" ... (%d)", len(d.lost))
	}
	return fmt.Sprintf("%s: sent %d, lost %d [%s], dups %d, max gap %v, max latency %v",
		d.receiver, d.sent, len(d.lost), lost, d.dups, d.maxGap.Round(time.Millisecond), d.maxLatency.Round(time.Millisecond))
}

// settle waits until every receiver has every message of sent, or the
// deadline passes, then analyses each.
func settle(cl *clients, sent []sentMsg, within time.Duration, receivers ...string) []delivery {
	deadline := time.Now().Add(within)
	for {
		var ds []delivery
		complete := true
		for _, r := range receivers {
			d := analyze(r, sent, cl.messages(r))
			complete = complete && len(d.lost) == 0
			ds = append(ds, d)
		}
		if complete || time.Now().After(deadline) {
			return ds
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// measure logs a measured duration in the greppable form.
func measure(t *testing.T, name string, d time.Duration) {
	t.Helper()
	t.Logf("MEASURE name=%s ms=%d", name, d.Milliseconds())
}

func TestAnalyze(t *testing.T) {
	t0 := time.Unix(1000, 0)
	ms := func(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }
	sent := []sentMsg{
		{from: "A", text: "p|A|1", at: ms(0)},
		{from: "A", text: "p|A|2", at: ms(10)},
		{from: "A", text: "p|A|3", at: ms(20)},
		{from: "A", text: "p|A|4", at: ms(30)},
	}
	got := []received{
		{text: "p|A|2", at: ms(15)},
		{text: "other", at: ms(16)},
		{text: "p|A|1", at: ms(12)},
		{text: "p|A|2", at: ms(500)},
		{text: "p|A|4", at: ms(400)},
	}
	d := analyze("B", sent, got)
	if len(d.lost) != 1 || d.lost[0] != "p|A|3" {
		t.Errorf("lost = %v, want [p|A|3]", d.lost)
	}
	if d.dups != 1 {
		t.Errorf("dups = %d, want 1", d.dups)
	}
	if d.maxGap != 385*time.Millisecond || !d.gapAfter.Equal(ms(15)) {
		t.Errorf("max gap = %v after %v, want 385ms after 15ms", d.maxGap, d.gapAfter.Sub(t0))
	}
	if d.maxLatency != 370*time.Millisecond {
		t.Errorf("max latency = %v, want 370ms", d.maxLatency)
	}
	if s := d.String(); !strings.Contains(s, "lost 1 [p|A|3]") {
		t.Errorf("String() = %q", s)
	}
	if d := analyze("C", sent, nil); len(d.lost) != 4 || d.maxGap != 0 {
		t.Errorf("nothing received: %+v", d)
	}
}
