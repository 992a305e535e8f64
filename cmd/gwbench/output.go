package main

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/loadgen"
)

// formatProgress renders the live line printed every second on stderr.
func formatProgress(p loadgen.Progress) string {
	var b strings.Builder
	fmt.Fprintf(&b, "[%5.1fs %-10s] conns %d", p.Elapsed.Seconds(), p.Phase, p.Conns)
	if p.ConnectErrors > 0 || p.Disconnects > 0 {
		fmt.Fprintf(&b, " (errs %d, lost %d)", p.ConnectErrors, p.Disconnects)
	}
	fmt.Fprintf(&b, " sent/s %.0f deliv/s %.0f p50 %s p99 %s",
		p.SentPerSec, p.DeliveriesPerSec, fmtDur(p.P50), fmtDur(p.P99))
	for _, s := range p.Servers {
		fmt.Fprintf(&b, " | pid %d cpu %.0f%% rss %.1fMB", s.PID, s.CPUPercent, s.RSSMB)
	}
	return b.String()
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%dµs", d.Microseconds())
	default:
		return fmt.Sprintf("%.2fms", float64(d.Microseconds())/1e3)
	}
}

// printSummary writes the human summary of a report.
func printSummary(w io.Writer, r *loadgen.Report) {
	fmt.Fprintf(w, "gwbench %s %s: %d/%d conns (%d procs), %d senders", r.Proto, r.Mode, r.Conns, r.ConnsAsked, r.Procs, r.Senders)
	if r.Rate > 0 {
		fmt.Fprintf(w, " at %g msg/s", r.Rate)
	}
	if len(r.URLs) > 1 {
		fmt.Fprintf(w, ", %d URLs", len(r.URLs))
		if r.Independent {
			fmt.Fprint(w, " (independent)")
		}
	}
	if r.Groups > 0 {
		fmt.Fprintf(w, ", %d groups", r.Groups)
	}
	fmt.Fprintf(w, ", %d B, window %gs after %gs warmup\n", r.Size, r.Duration, r.Warmup)
	if r.ConnectErrors > 0 || r.Disconnects > 0 {
		fmt.Fprintf(w, "  connect errors %d, disconnects %d %s\n", r.ConnectErrors, r.Disconnects, r.ConnectError)
	}
	if r.Mode != "idle" {
		fmt.Fprintf(w, "  sent %d (%.0f/s), deliveries %d (%.0f/s), expected %d, loss %d, dups %d, stalls %d, bad %d\n",
			r.Sent, r.SentPerSec, r.Deliveries, r.DeliveriesPerSec, r.Expected, r.Loss, r.Dups, r.Stalls, r.Bad)
		fmt.Fprintf(w, "  latency µs: p50 %.0f  p90 %.0f  p99 %.0f  max %.0f  (n=%d)\n",
			r.Latency.P50, r.Latency.P90, r.Latency.P99, r.Latency.Max, r.Latency.Count)
		fmt.Fprintf(w, "  wire: %.0f bytes read per message (compression %v)\n", r.WireBytesPerMessage, r.Compression)
	}
	for _, s := range r.Servers {
		fmt.Fprintf(w, "  pid %d: cpu %.2fs (%.0f%%), %.3f µs/delivery, rss %.1f -> %.1f -> %.1f MB, %.2f KB/conn",
			s.PID, s.CPUSeconds, s.CPUPercent, s.CPUMicrosPerDelivery, s.RSSBeforeMB, s.RSSStartMB, s.RSSEndMB, s.RSSPerConnKB)
		if s.Error != "" {
			fmt.Fprintf(w, " (error: %s)", s.Error)
		}
		fmt.Fprintln(w)
	}
	if t := r.ServersTotal; t != nil && len(r.Servers) > 1 {
		fmt.Fprintf(w, "  all %d pids: cpu %.2fs (%.0f%%), %.3f µs/delivery, rss %.1f -> %.1f -> %.1f MB, %.2f KB/conn\n",
			len(r.Servers), t.CPUSeconds, t.CPUPercent, t.CPUMicrosPerDelivery, t.RSSBeforeMB, t.RSSStartMB, t.RSSEndMB, t.RSSPerConnKB)
	}
}
