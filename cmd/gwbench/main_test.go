package main

import (
	"bytes"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/loadgen"
)

func TestParseSources(t *testing.T) {
	got, err := parseSources("127.0.0.1-127.0.0.3, 127.0.0.9")
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"127.0.0.1", "127.0.0.2", "127.0.0.3", "127.0.0.9"}
	if len(got) != len(want) {
		t.Fatalf("got %v", got)
	}
	for i, w := range want {
		if got[i] != netip.MustParseAddr(w) {
			t.Fatalf("got %v, want %v", got, want)
		}
	}
	for _, bad := range []string{"", "127.0.0.5-127.0.0.1", "x", "::1", "127.0.0.1-y"} {
		if _, err := parseSources(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParsePIDs(t *testing.T) {
	got, err := parsePIDs("12, 34,")
	if err != nil || len(got) != 2 || got[0] != 12 || got[1] != 34 {
		t.Fatalf("got %v, %v", got, err)
	}
	for _, bad := range []string{"0", "-3", "abc"} {
		if _, err := parsePIDs(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestParseRunFlags(t *testing.T) {
	o, err := parseRunFlags(strings.Fields("--url ws://127.0.0.1:9/ --conns 50 --senders 4 --closed-loop --duration 3s --pids 7 --src 127.0.0.2-127.0.0.3 --json out.json --proto centrifuge"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	w := o.cfg.Worker
	if w.Conns != 50 || w.Senders != 4 || !w.ClosedLoop || o.cfg.Duration != 3*time.Second ||
		len(o.cfg.PIDs) != 1 || len(w.Sources) != 2 || o.jsonPath != "out.json" || w.Proto != loadgen.ProtoCentrifuge {
		t.Fatalf("options %+v", o)
	}
	o, err = parseRunFlags([]string{"--idle", "--senders", "5"}, &bytes.Buffer{})
	if err != nil || o.cfg.Worker.Senders != 0 {
		t.Fatalf("idle keeps senders: %+v %v", o, err)
	}
}

func TestRunUsageErrors(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(nil, nil, &out, &errOut); code != 2 {
		t.Fatalf("no args: exit %d", code)
	}
	if code := run([]string{"fly"}, nil, &out, &errOut); code != 2 {
		t.Fatalf("unknown command: exit %d", code)
	}
	if code := run([]string{"run", "--conns", "0"}, nil, &out, &errOut); code != 2 || !strings.Contains(errOut.String(), "invalid config") {
		t.Fatalf("bad config: exit %d, stderr %q", code, errOut.String())
	}
}

func TestOutput(t *testing.T) {
	line := formatProgress(loadgen.Progress{Phase: "measure", Elapsed: 2 * time.Second, Conns: 10,
		SentPerSec: 5, DeliveriesPerSec: 50, P50: 800 * time.Microsecond, P99: 3 * time.Millisecond,
		Servers: []loadgen.ServerProgress{{PID: 9, CPUPercent: 12, RSSMB: 3.5}}})
	for _, want := range []string{"measure", "conns 10", "deliv/s 50", "p50 800µs", "p99 3.00ms", "pid 9 cpu 12% rss 3.5MB"} {
		if !strings.Contains(line, want) {
			t.Errorf("progress %q lacks %q", line, want)
		}
	}
	var b bytes.Buffer
	printSummary(&b, &loadgen.Report{Proto: "ws", Mode: "rate", Conns: 10, ConnsAsked: 10, Senders: 1, Rate: 2,
		Deliveries: 100, Latency: loadgen.LatencyReport{P50: 120},
		Servers: []loadgen.ServerReport{{PID: 9, CPUMicrosPerDelivery: 1.5}}})
	for _, want := range []string{"10/10 conns", "at 2 msg/s", "deliveries 100", "p50 120", "1.500 µs/delivery"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary %q lacks %q", b.String(), want)
		}
	}
	b.Reset()
	printSummary(&b, &loadgen.Report{Proto: "ws", Mode: "rate", Conns: 10, ConnsAsked: 10, Senders: 2, Rate: 1,
		URLs: []string{"ws://a/", "ws://b/"}, Independent: true, Groups: 4,
		Servers:      []loadgen.ServerReport{{PID: 1, CPUSeconds: 1}, {PID: 2, CPUSeconds: 2}},
		ServersTotal: &loadgen.ServerReport{CPUSeconds: 3, RSSPerConnKB: 1.25}})
	for _, want := range []string{"2 URLs (independent)", "4 groups", "all 2 pids: cpu 3.00s", "1.25 KB/conn"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("summary %q lacks %q", b.String(), want)
		}
	}
}

func TestParseScaleFlags(t *testing.T) {
	o, err := parseRunFlags(strings.Fields("--url ws://127.0.0.1:1/,ws://127.0.0.1:2/ --conns 40 --senders 4 --rate 1 --groups 4 --independent --aligned"), &bytes.Buffer{})
	if err != nil {
		t.Fatal(err)
	}
	w := o.cfg.Worker
	if len(w.URLs) != 2 || w.URLs[1] != "ws://127.0.0.1:2/" || w.Groups != 4 || !w.Independent || !w.Aligned {
		t.Fatalf("worker config %+v", w)
	}
	o, err = parseRunFlags([]string{"--url", "ws://127.0.0.1:1/"}, &bytes.Buffer{})
	if err != nil || o.cfg.Worker.URL != "ws://127.0.0.1:1/" || o.cfg.Worker.URLs != nil {
		t.Fatalf("one URL: %+v %v", o.cfg.Worker, err)
	}
	var errOut bytes.Buffer
	if code := run(strings.Fields("run --url ws://127.0.0.1:1/,ws://127.0.0.1:2/ --conns 9 --senders 1 --rate 1 --groups 3 --independent"), nil, &bytes.Buffer{}, &errOut); code != 2 {
		t.Fatalf("3 groups over 2 independent URLs: exit %d, %s", code, errOut.String())
	}
}
