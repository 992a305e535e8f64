package loadgen

import (
	"context"
	"errors"
	"net/netip"
	"os"
	"os/exec"
	"testing"
	"time"
)

func runBench(t *testing.T, cfg Config) *Report {
	t.Helper()
	rep, _ := runBenchProgress(t, cfg)
	return rep
}

func runBenchProgress(t *testing.T, cfg Config) (*Report, []Progress) {
	t.Helper()
	cfg.ProgressInterval = 50 * time.Millisecond
	if cfg.Duration == 0 {
		cfg.Duration = 500 * time.Millisecond
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 100 * time.Millisecond
	}
	b, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var progress []Progress
	rep, err := b.Run(ctx, func(p Progress) { progress = append(progress, p) })
	if err != nil {
		t.Fatal(err)
	}
	return rep, progress
}

func TestRateNoLoss(t *testing.T) {
	srv := startTestServer(t, nil)
	rep, progress := runBenchProgress(t, Config{
		Worker: WorkerConfig{URL: srv.url(), Conns: 20, Senders: 3, Rate: 40},
		PIDs:   []int{os.Getpid()},
	})
	measured := 0
	for _, p := range progress {
		if p.Phase == "measure" && p.Conns == 20 && len(p.Servers) == 1 && p.Servers[0].RSSMB > 0 {
			measured++
		}
	}
	if measured < 3 {
		t.Fatalf("%d progress reports in the window, want several: %+v", measured, progress)
	}
	if rep.Conns != 20 || rep.ConnectErrors != 0 {
		t.Fatalf("conns %d, connect errors %d", rep.Conns, rep.ConnectErrors)
	}
	// 3 senders × 40/s × 0.5 s = 60, give or take a tick per sender.
	if rep.Sent < 54 || rep.Sent > 66 {
		t.Fatalf("sent %d in the window, want about 60", rep.Sent)
	}
	if rep.Deliveries != rep.Sent*20 || rep.Expected != rep.Deliveries || rep.Loss != 0 || rep.Dups != 0 {
		t.Fatalf("deliveries %d expected %d loss %d dups %d for %d sent", rep.Deliveries, rep.Expected, rep.Loss, rep.Dups, rep.Sent)
	}
	if rep.Latency.Count != rep.Deliveries || rep.Latency.P50 <= 0 || rep.Latency.P50 > rep.Latency.P99 || rep.Latency.P99 > rep.Latency.Max {
		t.Fatalf("latency %+v", rep.Latency)
	}
	if len(rep.Servers) != 1 || rep.Servers[0].RSSEndMB <= 0 || rep.Servers[0].Error != "" {
		t.Fatalf("server report %+v", rep.Servers)
	}
}

func TestLossAndDuplicatesCounted(t *testing.T) {
	srv := startTestServer(t, func(s *testServer) {
		s.hook = func(n, k int) (drop, dup bool) {
			// Message 10 (well inside the window) never reaches connection 3;
			// message 12 reaches connection 4 twice.
			return n == 10 && k == 3, n == 12 && k == 4
		}
	})
	rep := runBench(t, Config{
		Worker:   WorkerConfig{URL: srv.url(), Conns: 8, Senders: 1, Rate: 50},
		Warmup:   20 * time.Millisecond,
		Duration: 400 * time.Millisecond,
	})
	if rep.Loss != 1 || rep.Gaps != 1 || rep.Dups != 1 {
		t.Fatalf("loss %d gaps %d dups %d, want 1 each", rep.Loss, rep.Gaps, rep.Dups)
	}
	if rep.Deliveries != rep.Sent*8-1 {
		t.Fatalf("deliveries %d for %d sent to 8", rep.Deliveries, rep.Sent)
	}
}

func TestClosedLoopOneInFlight(t *testing.T) {
	const delay = 20 * time.Millisecond
	srv := startTestServer(t, func(s *testServer) { s.delay = delay })
	rep := runBench(t, Config{
		Worker:   WorkerConfig{URL: srv.url(), Conns: 5, Senders: 2, ClosedLoop: true},
		Duration: 400 * time.Millisecond,
	})
	// Each sender waits for its echo, which the server holds for delay: at
	// most window/delay (+1 for the window's edge) messages per sender.
	perSender := int(400*time.Millisecond/delay) + 1
	if rep.Sent > uint64(2*perSender) || rep.Sent < uint64(perSender) {
		t.Fatalf("closed loop sent %d, want between %d and %d", rep.Sent, perSender, 2*perSender)
	}
	if rep.Stalls != 0 || rep.Loss != 0 || rep.Mode != "closed-loop" {
		t.Fatalf("stalls %d loss %d mode %s", rep.Stalls, rep.Loss, rep.Mode)
	}
	if rep.Latency.P50 < float64(delay.Microseconds()) {
		t.Fatalf("p50 %.0fµs below the server delay", rep.Latency.P50)
	}
}

func TestCentrifugeProto(t *testing.T) {
	srv := startTestServer(t, func(s *testServer) { s.centrifuge = true })
	rep := runBench(t, Config{
		Worker: WorkerConfig{URL: srv.url(), Proto: ProtoCentrifuge, Conns: 10, Senders: 2, ClosedLoop: true, Size: 48},
	})
	if rep.Conns != 10 || rep.Sent == 0 || rep.Loss != 0 || rep.Bad != 0 || rep.Disconnects != 0 {
		t.Fatalf("report %+v", rep)
	}
	if rep.Deliveries != rep.Sent*10 {
		t.Fatalf("deliveries %d for %d sent", rep.Deliveries, rep.Sent)
	}
}

func TestIdle(t *testing.T) {
	srv := startTestServer(t, nil)
	rep := runBench(t, Config{
		Worker: WorkerConfig{URL: srv.url(), Conns: 30},
		Idle:   true,
		PIDs:   []int{os.Getpid()},
	})
	if rep.Mode != "idle" || rep.Conns != 30 || rep.Sent != 0 || rep.Servers[0].RSSPerConnKB == 0 {
		t.Fatalf("report %+v", rep)
	}
}

func TestChildProcessesAggregate(t *testing.T) {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	srv := startTestServer(t, nil)
	rep := runBench(t, Config{
		Worker: WorkerConfig{URL: srv.url(), Conns: 9, Senders: 3, Rate: 30},
		Procs:  2,
		ChildCommand: func(ctx context.Context) *exec.Cmd {
			cmd := exec.CommandContext(ctx, exe, "-test.run=^$")
			cmd.Env = append(os.Environ(), childEnv+"=1")
			cmd.Stderr = os.Stderr
			return cmd
		},
	})
	if rep.Procs != 2 || rep.Conns != 9 || rep.Senders != 3 {
		t.Fatalf("procs %d conns %d senders %d", rep.Procs, rep.Conns, rep.Senders)
	}
	// Every message of the 3 senders (split 2+1 over the children) reaches
	// all 9 receivers (5+4): the parent adds up both children's counts.
	if rep.Sent == 0 || rep.Deliveries != rep.Sent*9 || rep.Loss != 0 || rep.Latency.Count != rep.Deliveries {
		t.Fatalf("sent %d deliveries %d loss %d latency n %d", rep.Sent, rep.Deliveries, rep.Loss, rep.Latency.Count)
	}
}

func TestChildFailureReported(t *testing.T) {
	_, err := New(Config{Worker: WorkerConfig{URL: "ws://127.0.0.1:1/", Conns: 4, Senders: 1, Rate: 1}, Procs: 2})
	if !errors.Is(err, ErrNoChildCommand) {
		t.Fatalf("err %v, want ErrNoChildCommand", err)
	}
	b, err := New(Config{
		Worker: WorkerConfig{URL: "ws://127.0.0.1:1/", Conns: 4, Senders: 1, Rate: 1},
		Procs:  2,
		ChildCommand: func(ctx context.Context) *exec.Cmd {
			return exec.CommandContext(ctx, "false")
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(context.Background(), nil); !errors.Is(err, ErrChild) {
		t.Fatalf("err %v, want ErrChild", err)
	}
}

func TestNoServer(t *testing.T) {
	ln := startTestServer(t, nil)
	url := ln.url()
	ln.close() // nothing listens there any more
	b, err := New(Config{Worker: WorkerConfig{URL: url, Conns: 3, Senders: 1, Rate: 1, DialTimeout: time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := b.Run(context.Background(), nil); !errors.Is(err, ErrNoConnections) {
		t.Fatalf("err %v, want ErrNoConnections", err)
	}
}

func TestConfigValidation(t *testing.T) {
	ok := WorkerConfig{URL: "ws://127.0.0.1:1/", Conns: 2, Senders: 1, Rate: 1}
	for name, mod := range map[string]func(*Config){
		"no url":       func(c *Config) { c.Worker.URL = "" },
		"http url":     func(c *Config) { c.Worker.URL = "http://x/" },
		"proto":        func(c *Config) { c.Worker.Proto = "mqtt" },
		"no rate":      func(c *Config) { c.Worker.Rate = 0 },
		"both modes":   func(c *Config) { c.Worker.ClosedLoop = true },
		"senders>conn": func(c *Config) { c.Worker.Senders = 3 },
		"small size":   func(c *Config) { c.Worker.Size = 8 },
		"idle+senders": func(c *Config) { c.Idle = true },
		"no senders":   func(c *Config) { c.Worker.Senders = 0 },
		"no conns":     func(c *Config) { c.Worker.Conns, c.Worker.Senders = 0, 0 },
		"bad pid":      func(c *Config) { c.PIDs = []int{0} },
		"not loopback": func(c *Config) { c.Worker.Sources = []netip.Addr{netip.MustParseAddr("10.0.0.1")} },
		"negative":     func(c *Config) { c.Warmup = -time.Second },
	} {
		cfg := Config{Worker: ok}
		mod(&cfg)
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: err %v, want ErrInvalidConfig", name, err)
		}
	}
	if _, err := New(Config{Worker: ok}); err != nil {
		t.Fatalf("valid config: %v", err)
	}
}
