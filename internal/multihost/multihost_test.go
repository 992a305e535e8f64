//go:build linux

package multihost

import (
	"crypto/rand"
	"encoding/hex"
	"net"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/netns"
)

// Ports, the same on every host.
const (
	registerPort = "1236"
	gossipPort   = "7946"
	publicPort   = "7272"
	lanPort      = "2900"
)

// Timing of the scenario.
const (
	streamEvery   = 20 * time.Millisecond // per sending client
	settleWithin  = 5 * time.Second       // for the last messages of a phase to arrive
	startWithin   = 20 * time.Second      // for a role to come up
	leaseTTL      = 10 * time.Second      // register.DefaultLeaseTTL: a stale entry lives this long
	maxWorkerGap  = 5 * time.Second       // silence allowed while a worker dies
	detectWithin  = 25 * time.Second      // gRPC keepalive 5 s + 5 s, server 10 s + 5 s, lease TTL 10 s
	recoverWithin = 25 * time.Second      // re-announce (backoff up to 5 s), watch, link
)

// scenario is the running cluster.
type scenario struct {
	t     *testing.T
	hosts map[string]*netns.Host
	procs map[string]*proc
	cl    *clients
}

func (s *scenario) lan(g string) string      { return net.JoinHostPort(s.hosts[g].IP, lanPort) }
func (s *scenario) public(g string) string   { return net.JoinHostPort(s.hosts[g].IP, publicPort) }
func (s *scenario) register(r string) string { return net.JoinHostPort(s.hosts[r].IP, registerPort) }
func (s *scenario) gossip(r string) string   { return net.JoinHostPort(s.hosts[r].IP, gossipPort) }
func (s *scenario) wsURL(g string) string    { return "ws://" + s.public(g) + "/" }

// linkedLine matches a worker's log line saying it linked to the gateway
// at lan (internal/linker: msg=linked gateway=<node> addr=<lan>).
func linkedLine(lan string) func(string) bool {
	return func(l string) bool {
		return (strings.Contains(l, "msg=linked") || strings.Contains(l, `msg="linked`)) && strings.Contains(l, "addr="+lan)
	}
}

// lostLine matches a worker's log line saying its link to a gateway ended
// (internal/linker: msg="link broken..." ... addr=<lan>, or
// msg="gateway left" gateway=<node>).
func lostLine(lan, node string) func(string) bool {
	return func(l string) bool {
		if strings.Contains(l, "link broken") && strings.Contains(l, "addr="+lan) {
			return true
		}
		return node != "" && strings.Contains(l, "gateway left") && strings.Contains(l, "gateway="+node)
	}
}

// nodeOf returns the node id a worker logged when it linked to lan.
func nodeOf(p *proc, lan string) string {
	l, ok := p.firstLine(time.Time{}, linkedLine(lan))
	if !ok {
		return ""
	}
	for f := range strings.FieldsSeq(l.text) {
		if v, ok := strings.CutPrefix(f, "gateway="); ok {
			return v
		}
	}
	return ""
}

// waitLine waits until p prints a line since since that match accepts.
func waitLine(p *proc, since time.Time, within time.Duration, match func(string) bool) (logLine, bool) {
	deadline := time.Now().Add(within)
	for {
		if l, ok := p.firstLine(since, match); ok {
			return l, true
		}
		if time.Now().After(deadline) {
			return logLine{}, false
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitLinked waits until worker w has linked to every gateway since since,
// and reports how long that took from since.
func (s *scenario) waitLinked(w string, since time.Time, within time.Duration, gateways ...string) (time.Duration, bool) {
	var last time.Time
	for _, g := range gateways {
		l, ok := waitLine(s.procs[w], since, within-time.Since(since), linkedLine(s.lan(g)))
		if !ok {
			return 0, false
		}
		if l.at.After(last) {
			last = l.at
		}
	}
	return last.Sub(since), true
}

// check reports a phase's deliveries: every message must reach every
// receiver.
// fault, when set, is when the phase's fault was injected: the start of
// the longest silence is logged relative to it.
func check(t *testing.T, fault time.Time, ds []delivery) {
	t.Helper()
	for _, d := range ds {
		if !fault.IsZero() && d.maxGap > 0 {
			t.Logf("%v (the max gap began %v after the fault)", d, d.gapAfter.Sub(fault).Round(time.Millisecond))
		} else {
			t.Log(d)
		}
		if len(d.lost) > 0 {
			t.Errorf("client %s lost %d of %d messages: %v", d.receiver, len(d.lost), d.sent, d.lost[:min(len(d.lost), 10)])
		}
	}
}

// maxGap is the longest silence any receiver saw.
func maxGap(ds []delivery) time.Duration {
	var g time.Duration
	for _, d := range ds {
		g = max(g, d.maxGap)
	}
	return g
}

// registerHasGossip reports whether the register takes the cluster flags.
func registerHasGossip(bin string) bool {
	out, _ := exec.Command(bin, "register", "--help").CombinedOutput()
	return strings.Contains(string(out), "--gossip") && strings.Contains(string(out), "--join")
}

// TestMultiHostFailover runs 3 registers, 2 gateways and chat workers on
// hosts of their own, with WebSocket clients on a client host, and checks
// what the clients see while registers and workers die and a gateway's
// link is cut and healed.
func TestMultiHostFailover(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-host scenario: skipped with -short")
	}
	netns.SkipUnlessAvailable(t)
	bins := buildBinaries(t)
	n, err := netns.New(t, "mh", "")
	if err != nil {
		t.Fatal(err)
	}
	s := &scenario{t: t, hosts: map[string]*netns.Host{}, procs: map[string]*proc{}}
	for _, name := range []string{"r1", "r2", "r3", "g1", "g2", "w1", "w2", "w3", "c1"} {
		if s.hosts[name], err = n.AddHost(name); err != nil {
			t.Fatal(err)
		}
	}
	secret := make([]byte, 16)
	rand.Read(secret)
	c := newCluster(t, hex.EncodeToString(secret))
	s.cl = startClients(t, s.hosts["c1"])
	ctx := t.Context()
	t0 := time.Now()

	// Registers: r1 seeds the gossip cluster; r2 and r3 join it once its
	// gossip port is up.
	gossip := registerHasGossip(bins.gatewayworker)
	if !gossip {
		t.Errorf("gatewayworker register has no --gossip/--join flags: every role uses r1 alone, so killing r1 leaves no register")
	}
	var regs []string
	for _, r := range []string{"r1", "r2", "r3"} {
		args := []string{"register", "--listen", s.register(r), "--name", r}
		if gossip {
			args = append(args, "--gossip", s.gossip(r))
			if r != "r1" {
				args = append(args, "--join", s.gossip("r1"))
			}
		}
		s.procs[r] = c.start(s.hosts[r], r, bins.gatewayworker, args...)
		regs = append(regs, s.register(r))
		wait := []string{s.register(r)}
		if gossip && r == "r1" {
			wait = append(wait, s.gossip(r))
		}
		for _, addr := range wait {
			if err := s.cl.waitTCP(ctx, addr, startWithin); err != nil {
				t.Fatalf("register %s: %v", r, err)
			}
		}
	}
	regList := strings.Join(regs, ",")
	if !gossip {
		regList = regs[0] // one discovery view at least, so the other phases run
	}

	for _, g := range []string{"g1", "g2"} {
		s.procs[g] = c.start(s.hosts[g], g, bins.gatewayworker, "gateway",
			"--listen", s.public(g), "--lan", s.lan(g), "--register", regList, "--name", g)
	}
	for _, g := range []string{"g1", "g2"} {
		for _, addr := range []string{s.public(g), s.lan(g)} {
			if err := s.cl.waitTCP(ctx, addr, startWithin); err != nil {
				t.Fatalf("gateway %s: %v", g, err)
			}
		}
	}
	startWorker := func(w string) time.Time {
		at := time.Now()
		s.procs[w] = c.start(s.hosts[w], w, bins.chat, "--register", regList, "--tick", "0")
		return at
	}
	for _, w := range []string{"w1", "w2"} {
		at := startWorker(w)
		if _, ok := s.waitLinked(w, at, startWithin, "g1", "g2"); !ok {
			t.Fatalf("worker %s did not link to both gateways within %v", w, startWithin)
		}
	}
	if err := s.cl.dial(ctx, "A", s.wsURL("g1"), 5*time.Second); err != nil {
		t.Fatalf("client A on g1: %v", err)
	}
	if err := s.cl.dial(ctx, "B", s.wsURL("g2"), 5*time.Second); err != nil {
		t.Fatalf("client B on g2: %v", err)
	}
	measure(t, "cluster_start", time.Since(t0))

	t.Run("cross_gateway_chat", func(t *testing.T) {
		st := startStream(s.cl, "p1", streamEvery, "A", "B")
		time.Sleep(time.Second) // the load runs this long
		check(t, time.Time{}, settle(s.cl, st.stop(), settleWithin, "A", "B"))
	})

	t.Run("kill_register", func(t *testing.T) {
		st := startStream(s.cl, "p2", streamEvery, "A", "B")
		time.Sleep(500 * time.Millisecond)
		killed := time.Now()
		s.procs["r1"].kill(t, syscall.SIGKILL)

		// A worker that starts now must learn both gateways from r2 or r3.
		time.Sleep(time.Second)
		at := startWorker("w3")
		if d, ok := s.waitLinked("w3", at, startWithin, "g1", "g2"); ok {
			measure(t, "new_worker_linked_after_register_kill", d)
		} else {
			t.Errorf("worker w3, started after r1 died, did not link to both gateways within %v", startWithin)
		}
		// Keep the load on past the lease TTL: a gateway whose lease died
		// with r1 and was not re-announced would vanish by then.
		time.Sleep(time.Until(killed.Add(leaseTTL + time.Second)))
		ds := settle(s.cl, st.stop(), settleWithin, "A", "B")
		check(t, killed, ds)
		measure(t, "register_kill_gap", maxGap(ds))
		for _, name := range []string{"r2", "r3", "g1", "g2", "w1", "w2"} {
			if !s.procs[name].running() {
				t.Errorf("%s exited after r1 was killed: %v", name, s.procs[name].err)
			}
		}
	})

	t.Run("kill_worker", func(t *testing.T) {
		st := startStream(s.cl, "p3", streamEvery, "A", "B")
		time.Sleep(500 * time.Millisecond)
		killed := time.Now()
		s.procs["w1"].kill(t, syscall.SIGKILL)
		time.Sleep(2500 * time.Millisecond)
		ds := settle(s.cl, st.stop(), settleWithin, "A", "B")
		check(t, killed, ds)
		gap := maxGap(ds)
		measure(t, "worker_kill_gap", gap)
		if gap > maxWorkerGap {
			t.Errorf("messages stopped for %v when a worker died, want under %v", gap, maxWorkerGap)
		}
	})

	t.Run("cut_gateway", func(t *testing.T) {
		g2 := s.hosts["g2"]
		nodes := map[string]string{}
		for _, w := range []string{"w2", "w3"} {
			nodes[w] = nodeOf(s.procs[w], s.lan("g2"))
		}
		st := startStream(s.cl, "p4", streamEvery, "A")
		time.Sleep(500 * time.Millisecond)
		cut := time.Now()
		if err := g2.Cut(); err != nil {
			st.stop()
			t.Fatal(err)
		}
		for _, w := range []string{"w2", "w3"} {
			if nodes[w] == "" {
				t.Logf("worker %s never linked to g2: nothing for it to notice", w)
				continue
			}
			l, ok := waitLine(s.procs[w], cut, detectWithin-time.Since(cut), lostLine(s.lan("g2"), nodes[w]))
			if !ok {
				t.Errorf("worker %s did not notice within %v that g2 was cut off", w, detectWithin)
				continue
			}
			measure(t, "cut_detect_"+w, l.at.Sub(cut))
		}
		time.Sleep(time.Second)
		ds := settle(s.cl, st.stop(), settleWithin, "A")
		check(t, cut, ds)
		measure(t, "cut_g1_client_gap", maxGap(ds))
	})

	t.Run("heal_gateway", func(t *testing.T) {
		st := startStream(s.cl, "p5", streamEvery, "A")
		healed := time.Now()
		if err := s.hosts["g2"].Heal(); err != nil {
			st.stop()
			t.Fatal(err)
		}
		// A new client on g2 must hear A (on g1) again.
		var dialErr error
		for time.Since(healed) < recoverWithin {
			if dialErr = s.cl.dial(ctx, "B2", s.wsURL("g2"), 2*time.Second); dialErr == nil {
				break
			}
			time.Sleep(100 * time.Millisecond)
		}
		if dialErr != nil {
			st.stop()
			t.Fatalf("client B2 on g2 after heal: %v", dialErr)
		}
		recovered := false
		for time.Since(healed) < recoverWithin && !recovered {
			for _, r := range s.cl.messages("B2") {
				if strings.HasPrefix(r.text, "p5|A|") {
					measure(t, "heal_recovery", r.at.Sub(healed))
					recovered = true
					break
				}
			}
			time.Sleep(20 * time.Millisecond)
		}
		st.stop()
		if !recovered {
			t.Errorf("no message from g1 reached a client of g2 within %v of the heal", recoverWithin)
		}
		if e, ok := s.cl.closed("B"); ok {
			t.Logf("client B (on g2 across the cut) ended: code %d %s", e.Code, e.Err)
		} else {
			t.Logf("client B (on g2 across the cut) is still connected; closing it")
			if err := s.cl.closeClient(ctx, "B"); err != nil {
				t.Errorf("close client B: %v", err)
			}
		}
		// Both directions again, through the healed gateway.
		st = startStream(s.cl, "p5x", streamEvery, "A", "B2")
		time.Sleep(time.Second)
		check(t, time.Time{}, settle(s.cl, st.stop(), settleWithin, "A", "B2"))
	})

	t.Run("only_new_worker", func(t *testing.T) {
		// w3 joined after r1 died; with w2 gone too it serves alone.
		st := startStream(s.cl, "p6", streamEvery, "A", "B2")
		time.Sleep(500 * time.Millisecond)
		killed := time.Now()
		s.procs["w2"].kill(t, syscall.SIGKILL)
		time.Sleep(2500 * time.Millisecond)
		ds := settle(s.cl, st.stop(), settleWithin, "A", "B2")
		check(t, killed, ds)
		measure(t, "last_worker_takeover_gap", maxGap(ds))
	})
	measure(t, "scenario_total", time.Since(t0))
}
