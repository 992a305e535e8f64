package linker

import (
	"math/rand/v2"
	"testing"
)

// TestAckerSelective completes events in random order and checks that every
// seq is acked exactly once, in ranges, whatever the order.
func TestAckerSelective(t *testing.T) {
	const n = 5000
	a := &acker{}
	for s := uint64(1); s <= n; s++ {
		if !a.received(s) {
			t.Fatalf("received(%d) = false", s)
		}
	}
	if a.received(3) {
		t.Fatal("duplicate seq accepted")
	}
	acked := make([]int, n+1)
	for k, i := range rand.Perm(n) {
		a.complete(uint64(i + 1))
		if k%7 != 0 {
			continue
		}
		ranges, inHand := a.take()
		if !inHand && k < n-1 {
			t.Fatalf("nothing in hand after %d of %d completions", k+1, n)
		}
		for _, r := range ranges {
			if r.GetFirst() > r.GetLast() {
				t.Fatalf("bad range %v", r)
			}
			for s := r.GetFirst(); s <= r.GetLast(); s++ {
				acked[s]++
			}
		}
	}
	ranges, inHand := a.take()
	if inHand {
		t.Fatal("events still in hand after every completion")
	}
	for _, r := range ranges {
		for s := r.GetFirst(); s <= r.GetLast(); s++ {
			acked[s]++
		}
	}
	for s := 1; s <= n; s++ {
		if acked[s] != 1 {
			t.Fatalf("seq %d acked %d times", s, acked[s])
		}
	}
}

// TestAckerStuckEventHoldsOnlyItself: with the first event never done, the
// others are still acked.
func TestAckerStuckEventHoldsOnlyItself(t *testing.T) {
	a := &acker{}
	for s := uint64(1); s <= 100; s++ {
		a.received(s)
	}
	for s := uint64(2); s <= 100; s++ {
		a.complete(s)
	}
	ranges, inHand := a.take()
	if !inHand || len(ranges) != 1 || ranges[0].GetFirst() != 2 || ranges[0].GetLast() != 100 {
		t.Fatalf("ranges %v inHand %v, want [2,100] and one in hand", ranges, inHand)
	}
}

func TestAckerDetach(t *testing.T) {
	a := &acker{}
	a.received(1)
	a.received(2)
	a.complete(1)
	a.detach()
	if a.complete(2) {
		t.Fatal("completion counted after detach")
	}
	if r, _ := a.take(); r != nil {
		t.Fatalf("acks %v after detach", r)
	}
	if a.received(3) || !a.isDetached() {
		t.Fatal("a detached session took an event")
	}
}

func TestToRanges(t *testing.T) {
	got := toRanges([]uint64{9, 1, 2, 3, 7, 5, 6})
	want := [][2]uint64{{1, 3}, {5, 7}, {9, 9}}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, r := range got {
		if r.GetFirst() != want[i][0] || r.GetLast() != want[i][1] {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
}

func BenchmarkAcker(b *testing.B) {
	b.ReportAllocs()
	a := &acker{}
	for i := range b.N {
		seq := uint64(i + 1)
		a.received(seq)
		a.complete(seq)
		if i%64 == 63 {
			a.take()
		}
	}
}
