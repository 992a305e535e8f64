package linker

import (
	"cmp"
	"slices"
	"sync"
)

// acker tracks the events of one link session and computes the cumulative
// ack: the highest seq such that every event up to it is done. Events arrive
// in seq order; they may complete in any order.
type acker struct {
	mu       sync.Mutex
	base     uint64 // every seq <= base is done
	recv     uint64 // highest seq received
	sent     uint64 // last ack handed to the sender
	hand     []slot // hand[head:]: events received above base, in seq order
	head     int
	detached bool // the session is over: completions are ignored
}

// slot is one received event above the ack base.
type slot struct {
	seq  uint64
	done bool
}

// received records the arrival of seq. It reports false for a duplicate or
// stale seq, which must not be dispatched. A gap (seqs never received) is
// treated as done: the gateway gave those events up. Only received events
// take room, so a gap of any size costs nothing.
func (a *acker) received(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seq <= a.recv {
		return false
	}
	a.hand = append(a.hand, slot{seq: seq})
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
	live := a.hand[a.head:] // not empty: base < seq <= recv
	// Without gaps seq sits at its offset from the first one; else search.
	i, found := 0, false
	if off := seq - live[0].seq; off < uint64(len(live)) && live[off].seq == seq {
		i, found = int(off), true
	} else {
		i, found = slices.BinarySearchFunc(live, seq, func(s slot, seq uint64) int { return cmp.Compare(s.seq, seq) })
	}
	if !found || live[i].done {
		return false // in a gap, or completed twice
	}
	live[i].done = true
	before := a.base
	a.advance()
	return a.base != before
}

// advance drops the done events at the head and moves base up to just below
// the first event not done (to recv when none is left).
func (a *acker) advance() {
	for a.head < len(a.hand) && a.hand[a.head].done {
		a.head++
	}
	if a.head == len(a.hand) {
		a.hand = a.hand[:0]
		a.head = 0
		a.base = a.recv
		return
	}
	a.base = a.hand[a.head].seq - 1
	if a.head > 1024 && a.head > len(a.hand)/2 {
		n := copy(a.hand, a.hand[a.head:])
		a.hand = a.hand[:n]
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
