package e2e

import (
	"fmt"
	"testing"
	"time"
)

// A worker process killed (SIGKILL) while clients chat: the gateway hands
// the events it had not acked to the other worker, no message is lost, and
// the dead worker's clients move at once.
func TestHAWorkerCrash(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("g1", nil)
	const handleTime = 2 * time.Millisecond // events stay in hand for a while
	w1 := startWorkerProcess(t, "w1", handleTime, c.register)
	startWorkerProcess(t, "w2", handleTime, c.register)
	c.waitLinked(2)

	// Client ids are random, so which worker a client hashes to is too:
	// with n clients all land on one worker with probability 2^(1-n).
	// 24 clients make that 2^-23; each sends every 25 ms.
	var clients []*echoClient
	for i := range 24 {
		clients = append(clients, newEchoClient(t, g.ws, fmt.Sprintf("c%d", i)))
	}
	chat := startChatter(clients, 25*time.Millisecond)
	defer chat.halt()
	// Chat until both workers have clients.
	var onW1 []*echoClient
	eventually(t, "clients on both workers", func() bool {
		onW1 = onW1[:0]
		n2 := 0
		for _, cl := range clients {
			by := cl.workers()
			if by["w1"] > 5 {
				onW1 = append(onW1, cl)
			}
			if by["w2"] > 5 {
				n2++
			}
		}
		return len(onW1) > 0 && n2 > 0
	})

	killed := time.Now()
	w1.kill(t)
	// Every former client of w1 gets echoes from w2, soon.
	eventually(t, "w1's clients answered by w2", func() bool {
		for _, cl := range onW1 {
			cl.mu.Lock()
			_, ok := cl.firstBy["w2"]
			cl.mu.Unlock()
			if !ok {
				return false
			}
		}
		return true
	})
	var moved time.Duration
	for _, cl := range onW1 {
		cl.mu.Lock()
		moved = max(moved, cl.firstBy["w2"].Sub(killed))
		cl.mu.Unlock()
	}
	detected := time.Now()
	eventually(t, "the gateway drops w1", func() bool { return g.Stats().Workers == 1 })
	time.Sleep(500 * time.Millisecond) // the chat goes on after the crash: the scenario, not a synchronisation
	chat.halt()
	if chat.errs.Load() != 0 {
		t.Fatalf("%d clients failed to send", chat.errs.Load())
	}
	sent, dups := waitAllEchoed(t, clients, waitFor)
	t.Logf("worker SIGKILLed: %d clients of it answered by the other worker within %v (gateway link drop seen by %v); %d messages, 0 lost, %d duplicates (at least once)",
		len(onW1), moved.Round(time.Millisecond), detected.Sub(killed).Round(time.Millisecond), sent, dups)
	// "Within one heartbeat": the crash is seen when the kernel resets the
	// link, far within the worker heartbeat (client keepalive, 10 s).
	if moved > 2*time.Second {
		t.Fatalf("clients of the dead worker moved after %v", moved)
	}
}
