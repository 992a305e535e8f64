// Command benchtable prints the comparison table of bench/compare.sh: it
// reads the gwbench --json reports in a directory, named
// SCENARIO__SERVER__RUN.json, takes the median of each figure over the runs
// and prints, per scenario, every server's figure with its ratio to the floor
// and to the gorilla hub.
//
// Usage: benchtable DIR
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// report holds the fields of a gwbench report that the table uses.
type report struct {
	Conns            int     `json:"conns"`
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	Loss             int64   `json:"loss"`
	Latency          struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
	} `json:"latency_us"`
	Servers []struct {
		CPUPercent           float64 `json:"cpu_pct"`
		CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
		RSSEndMB             float64 `json:"rss_end_mb"`
		RSSPerConnKB         float64 `json:"rss_per_conn_kb"`
	} `json:"servers"`
}

// metric is one column of figures drawn from a report.
type metric struct {
	name  string
	value func(*report) float64
	// lowerIsBetter says which way the ratio reads.
	lowerIsBetter bool
}

func server0(r *report) (cpuPct, usPerDelivery, rssMB, kbPerConn float64) {
	if len(r.Servers) == 0 {
		return 0, 0, 0, 0
	}
	s := r.Servers[0]
	return s.CPUPercent, s.CPUMicrosPerDelivery, s.RSSEndMB, s.RSSPerConnKB
}

// metrics per scenario: the headline figure first.
var metrics = map[string][]metric{
	"idle": {
		{"KB/conn", func(r *report) float64 { _, _, _, kb := server0(r); return kb }, true},
		{"RSS MB", func(r *report) float64 { _, _, mb, _ := server0(r); return mb }, true},
	},
	"rate": {
		{"µs CPU/deliv", func(r *report) float64 { _, us, _, _ := server0(r); return us }, true},
		{"CPU %", func(r *report) float64 { pct, _, _, _ := server0(r); return pct }, true},
		{"p50 µs", func(r *report) float64 { return r.Latency.P50 }, true},
	},
	"peak": {
		{"deliv/s", func(r *report) float64 { return r.DeliveriesPerSec }, false},
		{"µs CPU/deliv", func(r *report) float64 { _, us, _, _ := server0(r); return us }, true},
		{"p99 µs", func(r *report) float64 { return r.Latency.P99 }, true},
	},
	"latency": {
		{"p50 µs", func(r *report) float64 { return r.Latency.P50 }, true},
		{"p99 µs", func(r *report) float64 { return r.Latency.P99 }, true},
	},
}

var scenarioOrder = []string{"idle", "rate", "peak", "latency"}

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: benchtable DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(dir string, w io.Writer) error {
	files, err := filepath.Glob(filepath.Join(dir, "*__*__*.json"))
	if err != nil {
		return err
	}
	// runs[scenario][server] = reports
	runs := map[string]map[string][]*report{}
	var servers []string
	for _, f := range files {
		parts := strings.Split(strings.TrimSuffix(filepath.Base(f), ".json"), "__")
		if len(parts) != 3 {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return err
		}
		r := new(report)
		if err := json.Unmarshal(b, r); err != nil {
			return fmt.Errorf("%s: %w", f, err)
		}
		sc, srv := parts[0], parts[1]
		if runs[sc] == nil {
			runs[sc] = map[string][]*report{}
		}
		runs[sc][srv] = append(runs[sc][srv], r)
		if !slices.Contains(servers, srv) {
			servers = append(servers, srv)
		}
	}
	if len(runs) == 0 {
		return fmt.Errorf("no SCENARIO__SERVER__RUN.json file in %s", dir)
	}
	slices.SortFunc(servers, func(a, b string) int { return serverRank(a) - serverRank(b) })
	for _, sc := range scenarioOrder {
		bySrv, ok := runs[sc]
		if !ok {
			continue
		}
		fmt.Fprintf(w, "\n## %s\n\n", sc)
		fmt.Fprintf(w, "| %-14s | %4s | %6s | %7s |", "server", "runs", "conns", "loss")
		for _, m := range metrics[sc] {
			fmt.Fprintf(w, " %12s | ×floor | ×gorilla |", m.name)
		}
		fmt.Fprintln(w)
		fmt.Fprint(w, "|", strings.Repeat("-", 16), "|------|--------|---------|")
		for range metrics[sc] {
			fmt.Fprint(w, "--------------|--------|----------|")
		}
		fmt.Fprintln(w)
		for _, srv := range servers {
			rs := bySrv[srv]
			if len(rs) == 0 {
				continue
			}
			fmt.Fprintf(w, "| %-14s | %4d | %6.0f | %7.0f |", srv, len(rs),
				median(rs, func(r *report) float64 { return float64(r.Conns) }),
				median(rs, func(r *report) float64 { return float64(r.Loss) }))
			for _, m := range metrics[sc] {
				v := median(rs, m.value)
				fmt.Fprintf(w, " %12s | %6s | %8s |", num(v),
					ratio(v, bySrv["floor"], m.value), ratio(v, bySrv["gorillahub"], m.value))
			}
			fmt.Fprintln(w)
		}
	}
	fmt.Fprintln(w, "\nFigures are medians over the runs; ×floor and ×gorilla divide them by the floor's and the gorilla hub's medians.")
	return nil
}

func serverRank(s string) int {
	switch s {
	case "floor":
		return 0
	case "gatewayworker":
		return 1
	case "gorillahub":
		return 2
	case "centrifuge":
		return 3
	}
	return 4
}

func median(rs []*report, f func(*report) float64) float64 {
	vs := make([]float64, len(rs))
	for i, r := range rs {
		vs[i] = f(r)
	}
	slices.Sort(vs)
	n := len(vs)
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

func ratio(v float64, base []*report, f func(*report) float64) string {
	if len(base) == 0 {
		return "-"
	}
	b := median(base, f)
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", v/b)
}

func num(v float64) string {
	switch {
	case v >= 1000:
		return fmt.Sprintf("%.0f", v)
	case v >= 10:
		return fmt.Sprintf("%.1f", v)
	default:
		return fmt.Sprintf("%.3f", v)
	}
}
