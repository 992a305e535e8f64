// Command scaletable prints the results of bench/scale.sh: one table of the
// gwbench reports in DIR (SCENARIO__SERVER.json) with the ratios of
// gatewayworker to the floor, then, as its last line, one JSON object with
// the figures of the run (the output contract of `make bench-scale`).
//
//	scaletable DIR
package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
)

// report is the part of a gwbench JSON report (internal/loadgen.Report)
// read here.
type report struct {
	Conns            int     `json:"conns"`
	ConnectErrors    uint64  `json:"connect_errors"`
	Disconnects      uint64  `json:"disconnects"`
	Sent             uint64  `json:"sent"`
	Deliveries       uint64  `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	Expected         uint64  `json:"expected"`
	Loss             int64   `json:"loss"`
	Dups             uint64  `json:"dups"`
	Latency          struct {
		P50 float64 `json:"p50"`
		P99 float64 `json:"p99"`
		Max float64 `json:"max"`
	} `json:"latency_us"`
	Servers []struct {
		PID int `json:"pid"`
	} `json:"servers"`
	Total *struct {
		CPUSeconds           float64 `json:"cpu_s"`
		CPUPercent           float64 `json:"cpu_pct"`
		CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
		RSSEndMB             float64 `json:"rss_end_mb"`
		RSSPerConnKB         float64 `json:"rss_per_conn_kb"`
	} `json:"servers_total"`
}

// Servers and scenarios of scale.sh, in table order.
var (
	servers   = []string{"gatewayworker", "floor"}
	scenarios = []string{"idle", "broadcast", "groups"}
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: scaletable DIR")
		os.Exit(2)
	}
	if err := run(os.Args[1], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "scaletable:", err)
		os.Exit(1)
	}
}

func load(dir, scenario, server string) (*report, error) {
	b, err := os.ReadFile(filepath.Join(dir, scenario+"__"+server+".json"))
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var r report
	if err := json.Unmarshal(b, &r); err != nil {
		return nil, fmt.Errorf("%s %s: %w", scenario, server, err)
	}
	return &r, nil
}

// num is a figure that may be missing (JSON null).
type num = *float64

func val(v float64) num { return &v }

func ratio(a, b num) num {
	if a == nil || b == nil || *b == 0 {
		return nil
	}
	return val(math.Round(*a / *b * 100) / 100)
}

func round(v num, digits int) num {
	if v == nil {
		return nil
	}
	p := math.Pow(10, float64(digits))
	return val(math.Round(*v*p) / p)
}

func run(dir string, w io.Writer) error {
	reps := map[string]*report{}
	for _, sc := range scenarios {
		for _, s := range servers {
			r, err := load(dir, sc, s)
			if err != nil {
				return err
			}
			if r != nil {
				reps[sc+"/"+s] = r
			}
		}
	}
	if len(reps) == 0 {
		return fmt.Errorf("no report in %s", dir)
	}
	meta := map[string]any{}
	if b, err := os.ReadFile(filepath.Join(dir, "meta.json")); err == nil {
		_ = json.Unmarshal(b, &meta)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "uptime_after")); err == nil {
		if _, v, ok := strings.Cut(strings.TrimSpace(string(b)), ":"); ok {
			meta["uptime_after"] = strings.Trim(v, `"`)
		}
	}

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "scenario\tserver\tprocs\tconns\terrs/lost\tdeliv/s\tloss\tdups\tp50 ms\tp99 ms\tmax ms\tcpu %\tµs/deliv\tRSS MB\tKB/conn\t")
	for _, sc := range scenarios {
		for _, s := range servers {
			r := reps[sc+"/"+s]
			if r == nil {
				continue
			}
			t := r.Total
			if t == nil {
				t = &struct {
					CPUSeconds           float64 `json:"cpu_s"`
					CPUPercent           float64 `json:"cpu_pct"`
					CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery"`
					RSSEndMB             float64 `json:"rss_end_mb"`
					RSSPerConnKB         float64 `json:"rss_per_conn_kb"`
				}{}
			}
			fmt.Fprintf(tw, "%s\t%s\t%d\t%d\t%d/%d\t%.0f\t%d\t%d\t%.2f\t%.2f\t%.2f\t%.0f\t%.3f\t%.0f\t%.2f\t\n",
				sc, s, len(r.Servers), r.Conns, r.ConnectErrors, r.Disconnects, r.DeliveriesPerSec, r.Loss, r.Dups,
				r.Latency.P50/1e3, r.Latency.P99/1e3, r.Latency.Max/1e3, t.CPUPercent, t.CPUMicrosPerDelivery, t.RSSEndMB, t.RSSPerConnKB)
		}
	}
	if err := tw.Flush(); err != nil {
		return err
	}

	get := func(sc, s string, f func(*report) float64) num {
		r := reps[sc+"/"+s]
		if r == nil {
			return nil
		}
		return val(f(r))
	}
	cpu := func(r *report) float64 {
		if r.Total == nil {
			return 0
		}
		return r.Total.CPUMicrosPerDelivery
	}
	kb := func(r *report) float64 {
		if r.Total == nil {
			return 0
		}
		return r.Total.RSSPerConnKB
	}
	p50 := func(r *report) float64 { return r.Latency.P50 / 1e3 }
	p99 := func(r *report) float64 { return r.Latency.P99 / 1e3 }
	conns := func(r *report) float64 { return float64(r.Conns) }
	dps := func(r *report) float64 { return r.DeliveriesPerSec }
	// sum adds f over the scenarios of server s (nil if none ran).
	sum := func(s string, scs []string, f func(*report) float64) num {
		var n float64
		found := false
		for _, sc := range scs {
			if r := reps[sc+"/"+s]; r != nil {
				found = true
				n += f(r)
			}
		}
		if !found {
			return nil
		}
		return val(n)
	}
	sent := []string{"broadcast", "groups"}
	loss := func(r *report) float64 { return float64(r.Loss) }
	errs := func(r *report) float64 { return float64(r.ConnectErrors) }
	lost := func(r *report) float64 { return float64(r.Disconnects) }
	var c num
	for _, sc := range []string{"broadcast", "idle", "groups"} {
		if c = get(sc, "gatewayworker", conns); c != nil {
			break
		}
	}
	out := map[string]any{
		"conns":                            c,
		"loss":                             sum("gatewayworker", sent, loss),
		"floor_loss":                       sum("floor", sent, loss),
		"connect_errors":                   sum("gatewayworker", scenarios, errs),
		"disconnects":                      sum("gatewayworker", scenarios, lost),
		"kb_per_conn":                      round(get("idle", "gatewayworker", kb), 2),
		"floor_kb_per_conn":                round(get("idle", "floor", kb), 2),
		"cpu_us_per_delivery":              round(get("broadcast", "gatewayworker", cpu), 3),
		"floor_cpu_us_per_delivery":        round(get("broadcast", "floor", cpu), 3),
		"p50_ms":                           round(get("broadcast", "gatewayworker", p50), 2),
		"floor_p50_ms":                     round(get("broadcast", "floor", p50), 2),
		"p99_ms":                           round(get("broadcast", "gatewayworker", p99), 2),
		"floor_p99_ms":                     round(get("broadcast", "floor", p99), 2),
		"deliveries_per_s":                 round(get("broadcast", "gatewayworker", dps), 0),
		"floor_deliveries_per_s":           round(get("broadcast", "floor", dps), 0),
		"groups_cpu_us_per_delivery":       round(get("groups", "gatewayworker", cpu), 3),
		"floor_groups_cpu_us_per_delivery": round(get("groups", "floor", cpu), 3),
		"groups_p99_ms":                    round(get("groups", "gatewayworker", p99), 2),
		"floor_groups_p99_ms":              round(get("groups", "floor", p99), 2),
	}
	out["cpu_ratio"] = ratio(out["cpu_us_per_delivery"].(num), out["floor_cpu_us_per_delivery"].(num))
	out["p99_ratio"] = ratio(out["p99_ms"].(num), out["floor_p99_ms"].(num))
	out["groups_cpu_ratio"] = ratio(out["groups_cpu_us_per_delivery"].(num), out["floor_groups_cpu_us_per_delivery"].(num))
	out["groups_p99_ratio"] = ratio(out["groups_p99_ms"].(num), out["floor_groups_p99_ms"].(num))
	for _, k := range []string{"gateways", "workers", "groups", "group_interval_s", "duration", "nproc", "uptime_before", "uptime_after"} {
		if v, ok := meta[k]; ok {
			out[k] = v
		}
	}
	fmt.Fprintf(w, "ratios to the floor: cpu/delivery %s, p99 %s (broadcast); groups cpu/delivery %s, p99 %s\n",
		fmtNum(out["cpu_ratio"]), fmtNum(out["p99_ratio"]), fmtNum(out["groups_cpu_ratio"]), fmtNum(out["groups_p99_ratio"]))
	b, err := json.Marshal(out)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintln(w, string(b))
	return err
}

func fmtNum(v any) string {
	if n, ok := v.(num); ok && n != nil {
		return fmt.Sprintf("%.2fx", *n)
	}
	return "-"
}
