package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeReport(t *testing.T, dir, name string, conns int, loss int64, p99 float64, cpuPerDeliv, kbPerConn float64) {
	t.Helper()
	rep := map[string]any{
		"conns": conns, "loss": loss, "deliveries_per_s": 1000.0,
		"latency_us":    map[string]any{"p50": p99 / 2, "p99": p99, "max": p99 * 2},
		"servers":       []map[string]any{{"pid": 1}, {"pid": 2}},
		"servers_total": map[string]any{"cpu_us_per_delivery": cpuPerDeliv, "rss_per_conn_kb": kbPerConn, "cpu_pct": 50.0},
	}
	b, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".json"), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// The last line is one JSON object with the contract's fields, taken from
// the right scenario of the right server, and the ratios to the floor.
func TestLastLineContract(t *testing.T) {
	dir := t.TempDir()
	writeReport(t, dir, "idle__gatewayworker", 100, 0, 0, 0, 1.8)
	writeReport(t, dir, "idle__floor", 100, 0, 0, 0, 0.6)
	writeReport(t, dir, "broadcast__gatewayworker", 100, 3, 9000, 2.4, 5)
	writeReport(t, dir, "broadcast__floor", 100, 0, 6000, 2.0, 5)
	writeReport(t, dir, "groups__gatewayworker", 100, 2, 4000, 3.0, 5)
	if err := os.WriteFile(filepath.Join(dir, "meta.json"), []byte(`{"gateways":5,"workers":2,"uptime_before":"1.00, 2.00, 3.00"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := run(dir, &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var got map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &got); err != nil {
		t.Fatalf("last line %q: %v", lines[len(lines)-1], err)
	}
	want := map[string]any{
		"conns": 100.0, "loss": 5.0, "kb_per_conn": 1.8, "floor_kb_per_conn": 0.6,
		"cpu_us_per_delivery": 2.4, "floor_cpu_us_per_delivery": 2.0, "cpu_ratio": 1.2,
		"p99_ms": 9.0, "floor_p99_ms": 6.0, "p99_ratio": 1.5, "gateways": 5.0,
		"groups_cpu_us_per_delivery": 3.0, "floor_groups_cpu_us_per_delivery": nil,
	}
	for k, v := range want {
		if gv, ok := got[k]; !ok || gv != v {
			t.Errorf("%s = %v (present %v), want %v", k, gv, ok, v)
		}
	}
	if !strings.Contains(out.String(), "broadcast  gatewayworker") {
		t.Errorf("table lacks the broadcast row:\n%s", out.String())
	}
}

func TestNoReports(t *testing.T) {
	if err := run(t.TempDir(), &bytes.Buffer{}); err == nil {
		t.Fatal("empty directory accepted")
	}
}
