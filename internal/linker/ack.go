package linker

import (
	"slices"
	"sync"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// acker tracks the events of one link session for selective acks: events
// arrive in seq order and complete in any order; each completed seq is
// acked once, in ranges, so one stuck handler holds back only its own
// event, not the acks of the others.
type acker struct {
	mu       sync.Mutex
	recv     uint64   // highest seq received
	inHand   int      // received and not completed
	done     []uint64 // completed and not acked yet
	detached bool     // the session is over: nothing is acked any more
}

// received records the arrival of seq. It reports false for a duplicate or
// stale seq, which must not be dispatched.
func (a *acker) received(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if seq <= a.recv || a.detached {
		return false
	}
	a.recv = seq
	a.inHand++
	return true
}

// complete marks seq (received before, completed once) done. It reports
// whether it is the first ack waiting, so the sender needs waking.
func (a *acker) complete(seq uint64) bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.detached || seq == 0 || seq > a.recv {
		return false
	}
	a.inHand--
	a.done = append(a.done, seq)
	return len(a.done) == 1
}

// take returns the ranges to ack (nil: nothing new) and whether events are
// still in hand.
func (a *acker) take() (ranges []*pb.AckRange, inHand bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.done) > 0 {
		ranges = toRanges(a.done)
		a.done = a.done[:0]
		if cap(a.done) > 4096 {
			a.done = nil
		}
	}
	return ranges, a.inHand > 0
}

// toRanges sorts seqs and returns them as inclusive ranges.
func toRanges(seqs []uint64) []*pb.AckRange {
	slices.Sort(seqs)
	var out []*pb.AckRange
	for i := 0; i < len(seqs); {
		j := i
		for j+1 < len(seqs) && seqs[j+1] <= seqs[j]+1 {
			j++
		}
		out = append(out, &pb.AckRange{First: seqs[i], Last: seqs[j]})
		i = j + 1
	}
	return out
}

// pending reports whether acks are waiting to be sent, and whether events
// are still in hand.
func (a *acker) pending() (ack, inHand bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.done) > 0, a.inHand > 0
}

// isDetached reports whether the session is over: its events not started
// must not run (the gateway hands them to another worker).
func (a *acker) isDetached() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.detached
}

func (a *acker) detach() {
	a.mu.Lock()
	a.detached = true
	a.done = nil
	a.mu.Unlock()
}
