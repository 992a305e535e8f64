package linker

import "sync"

// acker tracks the events of one link session and computes the cumulative
// ack: the highest seq such that every event up to it is done. Events arrive
// in seq order; they may complete in any order.
type acker struct {
	mu       sync.Mutex
	base     uint64 // every seq <= base is done
	recv     uint64 // highest seq received
	sent     uint64 // last ack handed to the sender
	win      []bool // win[head+i]: seq base+1+i is done
	head     int
	detached bool // the session is over: completions are ignored
}

// received records the arrival of seq. It reports false for a duplicate or
// stale seq, which must not be dispatched. A gap (seqs never received) is
// treated as done: the gateway gave those events up.
func (a *acker) received(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seq <= a.recv {
		return false
	}
	for s := a.recv + 1; s < seq; s++ {
		a.win = append(a.win, true)
	}
	a.win = append(a.win, false)
	a.recv = seq
	a.advance()
	return true
}

// complete marks seq done and reports whether the ack moved forward.
func (a *acker) complete(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.detached || seq <= a.base || seq > a.recv {
		return false
	}
	a.win[a.head+int(seq-a.base-1)] = true
	before := a.base
	a.advance()
	return a.base != before
}

func (a *acker) advance() {
	for a.head < len(a.win) && a.win[a.head] {
		a.head++
		a.base++
	}
	if a.head == len(a.win) {
		a.win = a.win[:0]
		a.head = 0
	} else if a.head > 1024 && a.head > len(a.win)/2 {
		n := copy(a.win, a.win[a.head:])
		a.win = a.win[:n]
		a.head = 0
	}
}

// take returns the ack to send (0: nothing new) and whether events are still
// in hand.
func (a *acker) take() (ack uint64, inHand bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.base > a.sent {
		ack = a.base
		a.sent = a.base
	}
	return ack, a.recv > a.base
}

// pending reports whether an ack is waiting to be sent, and whether events
// are still in hand.
func (a *acker) pending() (ack, inHand bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.base > a.sent, a.recv > a.base
}

func (a *acker) detach() {
	a.mu.Lock()
	a.detached = true
	a.mu.Unlock()
}
