//go:build linux

package multihost

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/netns"
)

// The leader worker is the test binary re-executed as a worker process with
// one leader-only timer. It prints one JSON line per tick and per change of
// Worker.IsLeader (polled every 2 ms) on stdout.
const (
	leaderWorkerMode = "leader-worker"
	lwRegistersEnv   = "GW_LW_REGISTERS" // comma-separated register addresses
	lwTTLEnv         = "GW_LW_TTL"       // Config.LeaderLeaseTTL
	lwTickEnv        = "GW_LW_TICK"      // interval of the leader-only timer
)

// Timing of the leader tests.
const (
	lwTTL  = 3 * time.Second // worker LeaderLeaseTTL and register --max-leader-ttl
	lwTick = time.Second
)

// lwEvent is one line of a leader worker.
type lwEvent struct {
	Ev    string `json:"ev"` // "tick", "lead", "unlead"
	ID    string `json:"id"` // worker id
	At    int64  `json:"at"` // Unix ns (one clock for every namespace)
	Token uint64 `json:"token,omitempty"`
}

func (e lwEvent) time() time.Time { return time.Unix(0, e.At) }

func runLeaderWorker(stdout, stderr io.Writer) int {
	ttl, err1 := time.ParseDuration(os.Getenv(lwTTLEnv))
	tick, err2 := time.ParseDuration(os.Getenv(lwTickEnv))
	if err1 != nil || err2 != nil {
		fmt.Fprintln(stderr, "leader worker: bad", lwTTLEnv, "or", lwTickEnv)
		return 2
	}
	log := slog.New(slog.NewTextHandler(stderr, nil))
	w, err := businessworker.New(businessworker.Config{
		Registers:      strings.Split(os.Getenv(lwRegistersEnv), ","),
		Secret:         os.Getenv("GW_SECRET"),
		Handler:        businessworker.BaseHandler{},
		LeaderLeaseTTL: ttl,
		Logger:         log,
	})
	if err != nil {
		fmt.Fprintln(stderr, "leader worker:", err)
		return 2
	}
	var mu sync.Mutex
	enc := json.NewEncoder(stdout)
	emit := func(ev string, token uint64) {
		mu.Lock()
		defer mu.Unlock()
		_ = enc.Encode(lwEvent{Ev: ev, ID: w.ID(), At: time.Now().UnixNano(), Token: token})
	}
	w.Every(tick, func(ctx context.Context) {
		tok, _ := businessworker.LeaderToken(ctx)
		emit("tick", tok)
	}, businessworker.WithLeaderOnly())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	var wg sync.WaitGroup
	wg.Go(func() {
		leading := false
		for ctx.Err() == nil {
			if l := w.IsLeader(); l != leading {
				leading = l
				emit(map[bool]string{true: "lead", false: "unlead"}[l], 0)
			}
			time.Sleep(2 * time.Millisecond)
		}
	})
	err = w.Run(ctx)
	wg.Wait()
	if err != nil {
		fmt.Fprintln(stderr, "leader worker:", err)
		return 1
	}
	return 0
}

// lwEvents returns the leader-worker lines p printed, by time.
func lwEvents(procs ...*proc) []lwEvent {
	var out []lwEvent
	for _, p := range procs {
		p.mu.Lock()
		for _, l := range p.lines {
			var e lwEvent
			if strings.HasPrefix(l.text, `{"ev":`) && json.Unmarshal([]byte(l.text), &e) == nil {
				out = append(out, e)
			}
		}
		p.mu.Unlock()
	}
	sort.Slice(out, func(i, j int) bool { return out[i].At < out[j].At })
	return out
}

func filterEv(evs []lwEvent, kind string) []lwEvent {
	return slices.DeleteFunc(slices.Clone(evs), func(e lwEvent) bool { return e.Ev != kind })
}

// checkOneLeader fails when two workers' leading intervals overlap (from
// their "lead" and "unlead" lines, or when killed, or the end of the run)
// or when two ticks of different workers are less than half a tick apart.
func checkOneLeader(t *testing.T, evs []lwEvent, killed map[string]time.Time) {
	t.Helper()
	type span struct {
		id         string
		start, end int64
	}
	var spans []span
	open := map[string]int64{}
	for _, e := range evs {
		switch e.Ev {
		case "lead":
			open[e.ID] = e.At
		case "unlead":
			if s, ok := open[e.ID]; ok {
				spans = append(spans, span{e.ID, s, e.At})
				delete(open, e.ID)
			}
		}
	}
	for id, s := range open {
		end := int64(1 << 62)
		if k, ok := killed[id]; ok {
			end = k.UnixNano()
		}
		spans = append(spans, span{id, s, end})
	}
	for i, a := range spans {
		for _, b := range spans[i+1:] {
			if a.id != b.id && a.start < b.end && b.start < a.end {
				t.Errorf("two leaders at once: %s [%v, %v] and %s [%v, %v]", a.id[:8], time.Unix(0, a.start).Format("15:04:05.000"),
					time.Unix(0, a.end).Format("15:04:05.000"), b.id[:8], time.Unix(0, b.start).Format("15:04:05.000"), time.Unix(0, b.end).Format("15:04:05.000"))
			}
		}
	}
	ticks := filterEv(evs, "tick")
	for i := 1; i < len(ticks); i++ {
		if d := ticks[i].time().Sub(ticks[i-1].time()); d < lwTick/2 && ticks[i].ID != ticks[i-1].ID {
			t.Errorf("ticks of two workers %v apart at %s", d, ticks[i].time().Format("15:04:05.000"))
		}
	}
}

// freeLoopbackPorts returns n loopback addresses free for TCP and UDP.
func freeLoopbackPorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	for len(out) < n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		u, err := net.ListenPacket("udp", addr)
		l.Close()
		if err == nil {
			u.Close()
			out = append(out, addr)
		}
	}
	return out
}

// leaderWorkerCmd is the command of a leader worker.
func leaderWorkerCmd(cmd *exec.Cmd, registers []string) *exec.Cmd {
	cmd.Env = []string{driverEnv + "=" + leaderWorkerMode, lwRegistersEnv + "=" + strings.Join(registers, ","),
		lwTTLEnv + "=" + lwTTL.String(), lwTickEnv + "=" + lwTick.String()}
	return cmd
}

// waitEv waits until an event matching ok appears among procs' lines.
func waitEv(procs []*proc, within time.Duration, ok func(lwEvent) bool) (lwEvent, bool) {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		for _, e := range lwEvents(procs...) {
			if ok(e) {
				return e, true
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return lwEvent{}, false
}

// TestLeaderLeaseProcesses runs three registers (gatewayworker register,
// each joining the two others) and three worker processes with a 1 s
// leader-only tick on loopback: about one tick per second cluster-wide,
// never two workers within half a tick; after the leader is SIGKILLed
// another leads within the lease TTL, and ticks resume within the TTL plus
// one tick (the new leader's ticker keeps its own phase).
//
//	go test -count=3 -v -run TestLeaderLeaseProcesses ./internal/multihost/ | grep MEASURE
func TestLeaderLeaseProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	bins := buildBinaries(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, "leader-secret")
	grpcAddrs, gossipAddrs := freeLoopbackPorts(t, 3), freeLoopbackPorts(t, 3)
	for i := range 3 {
		var join []string
		for j, g := range gossipAddrs {
			if j != i {
				join = append(join, g)
			}
		}
		c.run(fmt.Sprintf("r%d", i+1), exec.Command(bins.gatewayworker, "register", "--listen", grpcAddrs[i],
			"--gossip", gossipAddrs[i], "--join", strings.Join(join, ","), "--name", fmt.Sprintf("r%d", i+1),
			"--max-leader-ttl", lwTTL.String()))
	}
	var workers []*proc
	for i := range 3 {
		workers = append(workers, c.run(fmt.Sprintf("w%d", i+1), leaderWorkerCmd(exec.Command(exe), grpcAddrs)))
	}
	first, ok := waitEv(workers, 30*time.Second, func(e lwEvent) bool { return e.Ev == "tick" })
	if !ok {
		t.Fatal("no leader-only tick within 30 s")
	}

	// Ten seconds of ticks, from just after the first one.
	from := first.time().Add(lwTick / 2)
	time.Sleep(time.Until(from.Add(10*time.Second + 200*time.Millisecond)))
	n := 0
	for _, e := range filterEv(lwEvents(workers...), "tick") {
		if !e.time().Before(from) && e.time().Before(from.Add(10*time.Second)) {
			n++
		}
	}
	t.Logf("%d leader-only ticks cluster-wide in 10 s", n)
	if n < 9 || n > 11 {
		t.Errorf("%d ticks in 10 s, want 9 to 11", n)
	}

	// SIGKILL the leader: another worker leads within the TTL.
	ticks := filterEv(lwEvents(workers...), "tick")
	last := ticks[len(ticks)-1]
	var leader *proc
	for _, w := range workers {
		for _, e := range lwEvents(w) {
			if e.ID == last.ID {
				leader = w
			}
		}
	}
	killed := time.Now()
	leader.kill(t, syscall.SIGKILL)
	lead, ok := waitEv(workers, 3*lwTTL, func(e lwEvent) bool { return e.Ev == "lead" && e.ID != last.ID && e.time().After(killed) })
	if !ok {
		t.Fatalf("no new leader within %v of the SIGKILL", 3*lwTTL)
	}
	handover := lead.time().Sub(killed)
	measure(t, "leader_handover_after_sigkill", handover)
	if handover > lwTTL {
		t.Errorf("new leader %v after the SIGKILL, want within the lease TTL %v", handover, lwTTL)
	}
	tick, ok := waitEv(workers, 3*lwTTL, func(e lwEvent) bool { return e.Ev == "tick" && e.ID == lead.ID })
	if !ok {
		t.Fatal("the new leader does not tick")
	}
	resumed := tick.time().Sub(killed)
	measure(t, "leader_ticks_resume_after_sigkill", resumed)
	if resumed > lwTTL+lwTick {
		t.Errorf("ticks resumed %v after the SIGKILL, want within the TTL plus one tick (%v)", resumed, lwTTL+lwTick)
	}
	if tick.Token <= last.Token {
		t.Errorf("fencing token %d of the new leader not above %d", tick.Token, last.Token)
	}
	checkOneLeader(t, lwEvents(workers...), map[string]time.Time{last.ID: killed})
}

// TestMultiHostLeaderPartition runs three registers and three leader
// workers on hosts of their own and cuts the leader's host off the network:
// the cut worker stops leading before another starts, never leads while
// cut, and does not take the lease back once healed.
//
//	go test -count=1 -v -run TestMultiHostLeaderPartition ./internal/multihost/ | grep MEASURE
func TestMultiHostLeaderPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-host scenario: skipped with -short")
	}
	netns.SkipUnlessAvailable(t)
	bins := buildBinaries(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	n, err := netns.New(t, "ml", "")
	if err != nil {
		t.Fatal(err)
	}
	hosts := map[string]*netns.Host{}
	for _, name := range []string{"r1", "r2", "r3", "w1", "w2", "w3"} {
		if hosts[name], err = n.AddHost(name); err != nil {
			t.Fatal(err)
		}
	}
	c := newCluster(t, "partition-secret")
	addr := func(h, port string) string { return net.JoinHostPort(hosts[h].IP, port) }
	var regs []string
	for _, r := range []string{"r1", "r2", "r3"} {
		var join []string
		for _, o := range []string{"r1", "r2", "r3"} {
			if o != r {
				join = append(join, addr(o, gossipPort))
			}
		}
		// No --cluster-size: 1 + two --join addresses gives 3.
		c.start(hosts[r], r, bins.gatewayworker, "register", "--listen", addr(r, registerPort), "--gossip", addr(r, gossipPort),
			"--join", strings.Join(join, ","), "--name", r, "--max-leader-ttl", lwTTL.String())
		regs = append(regs, addr(r, registerPort))
	}
	workers := map[string]*proc{}
	var all []*proc
	for _, w := range []string{"w1", "w2", "w3"} {
		workers[w] = c.run(w, leaderWorkerCmd(hosts[w].Command(context.Background(), exe), regs))
		all = append(all, workers[w])
	}
	first, ok := waitEv(all, 30*time.Second, func(e lwEvent) bool { return e.Ev == "lead" })
	if !ok {
		t.Fatal("no leader within 30 s")
	}
	time.Sleep(3 * lwTick) // a few ticks
	var cutHost string
	for name, p := range workers {
		if len(lwEvents(p)) > 0 && lwEvents(p)[0].ID == first.ID {
			cutHost = name
		}
	}
	if cutHost == "" {
		t.Fatal("leader's host not found")
	}
	cut := time.Now()
	if err := hosts[cutHost].Cut(); err != nil {
		t.Fatal(err)
	}
	unlead, ok := waitEv(all, 2*lwTTL, func(e lwEvent) bool { return e.Ev == "unlead" && e.ID == first.ID })
	if !ok {
		t.Fatalf("the cut leader still leads %v after the cut", 2*lwTTL)
	}
	next, ok := waitEv(all, 3*lwTTL, func(e lwEvent) bool { return e.Ev == "lead" && e.ID != first.ID })
	if !ok {
		t.Fatalf("no new leader within %v of the cut", 3*lwTTL)
	}
	measure(t, "cut_leader_stops_leading", unlead.time().Sub(cut))
	measure(t, "leader_handover_after_partition", next.time().Sub(cut))
	if !unlead.time().Before(next.time()) {
		t.Errorf("new leader at %s before the cut one stopped at %s", next.time().Format("15:04:05.000"), unlead.time().Format("15:04:05.000"))
	}
	if d := unlead.time().Sub(cut); d > lwTTL {
		t.Errorf("the cut leader led %v after the cut, more than the TTL", d)
	}
	time.Sleep(lwTTL) // the cut worker keeps trying alone
	if err := hosts[cutHost].Heal(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * lwTTL) // healed: the new leader keeps the lease
	for _, e := range lwEvents(all...) {
		if e.Ev == "lead" && e.ID == first.ID && e.time().After(cut) {
			t.Errorf("the cut leader led again at %s", e.time().Format("15:04:05.000"))
		}
	}
	checkOneLeader(t, lwEvents(all...), nil)
}
