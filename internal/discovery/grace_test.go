package discovery_test

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	"github.com/gatewayworker/gatewayworker/register"
)

// twoRegisters returns a register A and a register B with its own, empty
// store, which looks down until opened.
func twoRegisters(t *testing.T) (a, b *testRegister, openB func()) {
	t.Helper()
	lisB, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gate := &gateListener{Listener: lisB}
	b = serveOn(t, gate, register.Config{})
	a = startRegister(t, register.Config{})
	return a, b, func() { gate.open.Store(true) }
}

func graceWatcher(t *testing.T, grace time.Duration, regs ...string) *recorder {
	t.Helper()
	w, err := discovery.NewWatcher(discovery.WatcherConfig{Registers: regs, MinBackoff: minBo, MaxBackoff: maxBo, Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	rec := &recorder{}
	run(t, 5*time.Second, func(ctx context.Context) error { return w.Run(ctx, rec.onChange) })
	return rec
}

// A register that comes back empty (every register was down) does not make
// watchers drop the gateways while these re-announce.
func TestGraceKeepsGatewaysThroughEmptySnapshot(t *testing.T) {
	rA, rB, openB := twoRegisters(t)
	rec := graceWatcher(t, 5*time.Second, rA.addr, rB.addr)
	a := newAnnouncer(t, 21, time.Minute, "", rA.addr)
	run(t, 5*time.Second, a.Run)
	waitFor(t, 5*time.Second, "watcher sees the gateway", rec.lastIs(21))

	seen := rec.calls()
	openB()
	rA.stop()
	waitFor(t, 5*time.Second, "watcher on the empty register", func() bool { return rec.calls() > seen })
	if len(rB.Gateways()) != 0 {
		t.Fatal("register B is not empty")
	}
	if rec.sawEmptyAfter(seen) {
		t.Fatal("watcher dropped the gateway on the empty snapshot")
	}
	// The gateway re-announces to B: it stays, and is no longer held.
	b := newAnnouncer(t, 21, time.Minute, "", rB.addr)
	run(t, 5*time.Second, b.Run)
	waitFor(t, 5*time.Second, "B knows the gateway", func() bool { return len(rB.Gateways()) == 1 })
	if got, _ := rec.last(); len(got) != 1 || rec.sawEmptyAfter(seen) {
		t.Fatalf("set %v after the re-announce", got)
	}
}

// A gateway that never re-announces leaves the set when its grace ends, and
// no earlier; with no grace, at once.
func TestGraceExpires(t *testing.T) {
	for name, grace := range map[string]time.Duration{"grace": 400 * time.Millisecond, "none": -1} {
		t.Run(name, func(t *testing.T) {
			rA, rB, openB := twoRegisters(t)
			rec := graceWatcher(t, grace, rA.addr, rB.addr)
			a := newAnnouncer(t, 31, time.Minute, "", rA.addr)
			run(t, 5*time.Second, a.Run)
			waitFor(t, 5*time.Second, "watcher sees the gateway", rec.lastIs(31))
			seen := rec.calls()
			openB()
			rA.stop()
			waitFor(t, 5*time.Second, "watcher on the empty register", func() bool { return rec.calls() > seen })
			failedOver := time.Now()
			waitFor(t, 5*time.Second, "gateway dropped", rec.lastIs())
			took := time.Since(failedOver)
			if grace > 0 && (took < grace-100*time.Millisecond || took > grace+2*time.Second) {
				t.Fatalf("dropped %v after the failover, want about %v", took, grace)
			}
			if grace < 0 && took > 100*time.Millisecond {
				t.Fatalf("dropped %v after the failover without grace", took)
			}
		})
	}
}
