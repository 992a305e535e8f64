package e2e

import (
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/gateway"
)

// haGateway starts a gateway announcing to regs.
func (c *cluster) haGateway(name string, regs []string, mod func(*gateway.Config)) *gw {
	c.t.Helper()
	return c.addGateway(name, func(cfg *gateway.Config) {
		cfg.Registers = regs
		if mod != nil {
			mod(cfg)
		}
	})
}

// A register cluster loses nothing when one register dies, and when all are
// down, linked gateways and workers keep working; a worker started then
// retries without spinning and links once a register is back.
func TestHARegistersDown(t *testing.T) {
	r1 := startRegister(t, "r1", "127.0.0.1:0")
	r2 := startRegister(t, "r2", stableAddr(t), r1.store.Addr())
	eventually(t, "register cluster of 2", func() bool { return len(r1.store.Members()) == 2 })
	regs := []string{r1.addr, r2.addr}

	c := &cluster{t: t, secret: helperSecret}
	g := c.haGateway("g1", regs, nil)
	startWorkerProcess(t, "w1", 0, regs...)
	c.waitLinked(1)
	eventually(t, "the gateway seen by both registers", func() bool {
		return len(r1.Gateways()) == 1 && len(r2.Gateways()) == 1
	})

	clients := []*echoClient{newEchoClient(t, g.ws, "a"), newEchoClient(t, g.ws, "b")}
	chat := startChatter(clients, 20*time.Millisecond)
	defer chat.halt()

	// One register dies: the gateway stays in the other's view (its lease is
	// shared, and it re-announces there), and a new worker links through it.
	r1.proc.stop(t)
	startWorkerProcess(t, "w2", 0, regs...)
	began := time.Now()
	c.waitLinked(2)
	t.Logf("one register down: a new worker linked in %v", time.Since(began).Round(time.Millisecond))
	if gws := r2.Gateways(); len(gws) != 1 || clientid.FormatNode(gws[0].GetNodeId()) != g.NodeID() {
		t.Fatalf("surviving register sees %v", gws)
	}

	// Every register down: the chat goes on over the links in place, and a
	// worker started now finds no register: it retries with backoff, using
	// next to no CPU.
	r2.proc.stop(t)
	downAt := time.Now()
	sentBefore := totalSent(clients)
	w3 := startWorkerProcess(t, "w3", 0, regs...)
	// The chat runs during these sleeps: they are the scenario, not a synchronisation.
	time.Sleep(time.Second) // let the process start up before measuring
	cpu0, t0 := w3.cpuTime(t), time.Now()
	time.Sleep(2500 * time.Millisecond)
	cpu := w3.cpuTime(t) - cpu0
	share := float64(cpu) / float64(time.Since(t0))
	t.Logf("worker retrying with every register down: %v CPU in %v (%.1f%% of a core)", cpu, time.Since(t0).Round(time.Millisecond), 100*share)
	if share > 0.05 {
		t.Fatalf("retrying worker used %.1f%% of a core", 100*share)
	}
	if n := totalSent(clients) - sentBefore; n < 100 {
		t.Fatalf("only %d messages sent while the registers were down", n)
	}
	sent, _ := waitAllEchoed(t, clients, waitFor)
	if n := g.Stats().Workers; n != 2 {
		t.Fatalf("gateway has %d workers with every register down, want the 2 linked before", n)
	}
	t.Logf("registers down for %v: %d messages so far, none lost", time.Since(downAt).Round(time.Millisecond), sent)

	// A register comes back on its address: the gateway re-announces, the
	// new worker links.
	back := time.Now()
	startRegister(t, "r2b", r2.addr)
	deadline := time.Now().Add(20 * time.Second)
	for g.Stats().Workers != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("the new worker did not link within 20 s of a register's return (workers %d)", g.Stats().Workers)
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Logf("register back: the waiting worker linked in %v", time.Since(back).Round(time.Millisecond))
	chat.halt()
	sent, dups := waitAllEchoed(t, clients, waitFor)
	t.Logf("total: %d messages, 0 lost, %d duplicates", sent, dups)
}

func totalSent(cs []*echoClient) int {
	n := 0
	for _, c := range cs {
		c.mu.Lock()
		n += c.sent
		c.mu.Unlock()
	}
	return n
}
