package linker

import (
	"math/rand/v2"
	"testing"
)

func TestAckerOutOfOrder(t *testing.T) {
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
	done := make([]bool, n+1)
	order := rand.Perm(n)
	var want uint64
	for _, i := range order {
		seq := uint64(i + 1)
		a.complete(seq)
		done[seq] = true
		for want < n && done[want+1] {
			want++
		}
		got, inHand := a.take()
		if got != 0 && got != want {
			t.Fatalf("after completing %d: ack %d, want %d", seq, got, want)
		}
		if inHand != (want < n) {
			t.Fatalf("inHand = %v with base %d", inHand, want)
		}
	}
	if a.base != n {
		t.Fatalf("base %d, want %d", a.base, n)
	}
}

func TestAckerGapAndDetach(t *testing.T) {
	a := &acker{}
	a.received(1)
	a.received(4) // 2 and 3 never came: treated as done
	a.complete(1)
	if got, _ := a.take(); got != 3 {
		t.Fatalf("ack %d, want 3", got)
	}
	a.detach()
	if a.complete(4) {
		t.Fatal("completion counted after detach")
	}
}

func BenchmarkAcker(b *testing.B) {
	b.ReportAllocs()
	a := &acker{}
	for i := range b.N {
		seq := uint64(i + 1)
		a.received(seq)
		a.complete(seq)
		if i%64 == 0 {
			a.take()
		}
	}
}

// FuzzAcker drives an acker with arbitrary arrivals (with gaps and
// duplicates) and completions, checking the ack against a model.
func FuzzAcker(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0x81, 0x80, 0x82})
	f.Add([]byte{5, 0x80, 3, 0x81, 0xff, 0})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, ops []byte) {
		a := &acker{}
		var recv uint64
		done := map[uint64]bool{}
		for _, op := range ops {
			if op&0x80 == 0 { // arrival of recv+1+gap, or a duplicate when op == 0x7f
				if op == 0x7f {
					if a.received(recv) && recv != 0 {
						t.Fatalf("duplicate %d accepted", recv)
					}
					continue
				}
				gap := uint64(op % 4)
				for s := recv + 1; s <= recv+gap; s++ {
					done[s] = true // never received: given up by the gateway
				}
				recv += gap + 1
				if !a.received(recv) {
					t.Fatalf("received(%d) refused", recv)
				}
				continue
			}
			if recv == 0 {
				continue
			}
			seq := uint64(op&0x7f)%recv + 1
			a.complete(seq)
			done[seq] = true
		}
		var want uint64
		for done[want+1] && want < recv {
			want++
		}
		if a.base != want {
			t.Fatalf("base %d, want %d", a.base, want)
		}
		if got, inHand := a.take(); (got != 0 && got != want) || inHand != (want < recv) {
			t.Fatalf("take = %d, %v; want %d, %v", got, inHand, want, want < recv)
		}
	})
}
