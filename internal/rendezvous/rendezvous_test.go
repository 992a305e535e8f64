package rendezvous

import (
	"fmt"
	"math"
	"testing"
)

func nodes(n int) []uint64 {
	out := make([]uint64, n)
	for i := range out {
		out[i] = HashString(fmt.Sprintf("worker-%d", i))
	}
	return out
}

func TestPickEmpty(t *testing.T) {
	if got := Pick(42, nil); got != -1 {
		t.Fatalf("Pick(nil) = %d, want -1", got)
	}
}

func TestPickMatchesScore(t *testing.T) {
	ns := nodes(5)
	for key := uint64(0); key < 1000; key++ {
		i := Pick(key, ns)
		for j, n := range ns {
			if Score(key, n) > Score(key, ns[i]) {
				t.Fatalf("key %d: picked %d but node %d scores higher", key, i, j)
			}
		}
	}
}

func TestPickIndependentOfOrder(t *testing.T) {
	ns := nodes(4)
	rev := []uint64{ns[3], ns[2], ns[1], ns[0]}
	for key := uint64(1); key < 5000; key++ {
		if ns[Pick(key, ns)] != rev[Pick(key, rev)] {
			t.Fatalf("key %d: pick depends on node order", key)
		}
	}
}

func TestBalance(t *testing.T) {
	const keys = 40000
	ns := nodes(4)
	counts := make([]int, len(ns))
	for c := uint64(1); c <= keys; c++ {
		counts[Pick(Key(0xdeadbeefcafe, c), ns)]++
	}
	want := float64(keys) / float64(len(ns))
	for i, n := range counts {
		if math.Abs(float64(n)-want) > want*0.05 {
			t.Fatalf("node %d got %d keys, want %.0f ±5%% (all: %v)", i, n, want, counts)
		}
	}
}

// Removing a node moves only the keys that node owned.
func TestMinimalDisruption(t *testing.T) {
	ns := nodes(4)
	without := []uint64{ns[0], ns[1], ns[3]}
	moved := 0
	for c := uint64(1); c <= 20000; c++ {
		key := Key(7, c)
		before := ns[Pick(key, ns)]
		after := without[Pick(key, without)]
		if before != ns[2] && before != after {
			t.Fatalf("key %d moved from a surviving node", c)
		}
		if before != after {
			moved++
		}
	}
	if moved == 0 {
		t.Fatal("no key moved off the removed node")
	}
}

func TestTieLowestIndex(t *testing.T) {
	n := HashString("same")
	if got := Pick(99, []uint64{n, n, n}); got != 0 {
		t.Fatalf("tie picked %d, want 0", got)
	}
}

func TestHashStringDistinct(t *testing.T) {
	if HashString("a") == HashString("b") || HashString("") == HashString("a") {
		t.Fatal("HashString collides on trivial inputs")
	}
}

func BenchmarkPick4(b *testing.B) {
	b.ReportAllocs()
	ns := nodes(4)
	var sink int
	for i := 0; b.Loop(); i++ {
		sink += Pick(Key(0x1234, uint64(i)), ns)
	}
	_ = sink
}

func ExamplePick() {
	workers := []uint64{HashString("w1"), HashString("w2"), HashString("w3")}
	key := Key(0x1122334455667788, 1)
	i := Pick(key, workers)
	fmt.Println(i == Pick(key, workers)) // stable
	// Output: true
}
