package loadgen

import "time"

// Report is the outcome of a run, written as the --json file.
type Report struct {
	URL        string  `json:"url"`
	Proto      Proto   `json:"proto"`
	Mode       string  `json:"mode"` // "rate", "closed-loop" or "idle"
	ConnsAsked int     `json:"conns_asked"`
	Conns      int     `json:"conns"` // open when the window opened
	Senders    int     `json:"senders"`
	Rate       float64 `json:"rate,omitempty"`
	Size       int     `json:"size"`
	Procs      int     `json:"procs"`
	Warmup     float64 `json:"warmup_s"`
	Duration   float64 `json:"duration_s"`

	ConnectErrors uint64 `json:"connect_errors"`
	ConnectError  string `json:"connect_error,omitempty"`
	Disconnects   uint64 `json:"disconnects"`

	Sent             uint64  `json:"sent"` // inside the window
	SentPerSec       float64 `json:"sent_per_s"`
	Deliveries       uint64  `json:"deliveries"`
	DeliveriesPerSec float64 `json:"deliveries_per_s"`
	Expected         uint64  `json:"expected"`
	Loss             int64   `json:"loss"`
	Dups             uint64  `json:"dups"`
	Gaps             uint64  `json:"gaps"`
	Bad              uint64  `json:"bad"`
	Stalls           uint64  `json:"stalls"`
	// Compression: the connections negotiated permessage-deflate.
	Compression bool `json:"compression,omitempty"`
	// WireBytesPerMessage is the frame bytes read per workload message
	// received (Stats.WireBytes / Stats.Received, warmup included).
	WireBytesPerMessage float64 `json:"wire_bytes_per_message"`

	Latency LatencyReport  `json:"latency_us"`
	Servers []ServerReport `json:"servers,omitempty"`
	// ServersTotal adds up Servers (PID 0): CPU, RSS and the per-delivery
	// and per-connection figures of all the --pids processes together.
	ServersTotal *ServerReport `json:"servers_total,omitempty"`

	// URLs, Groups and Independent describe the layout (WorkerConfig).
	URLs        []string `json:"urls,omitempty"`
	Groups      int      `json:"groups,omitempty"`
	Independent bool     `json:"independent,omitempty"`
}

// totalServers adds up rs; the wall time is the window's (secs).
func totalServers(rs []ServerReport, conns int, deliveries uint64, secs float64) *ServerReport {
	if len(rs) == 0 {
		return nil
	}
	t := &ServerReport{}
	for _, r := range rs {
		t.CPUSeconds += r.CPUSeconds
		t.RSSBeforeMB += r.RSSBeforeMB
		t.RSSStartMB += r.RSSStartMB
		t.RSSEndMB += r.RSSEndMB
		if r.Error != "" && t.Error == "" {
			t.Error = r.Error
		}
	}
	if secs > 0 {
		t.CPUPercent = 100 * t.CPUSeconds / secs
	}
	if deliveries > 0 {
		t.CPUMicrosPerDelivery = t.CPUSeconds * 1e6 / float64(deliveries)
	}
	if conns > 0 {
		t.RSSPerConnKB = (t.RSSEndMB - t.RSSBeforeMB) * 1024 / float64(conns)
	}
	return t
}

// LatencyReport gives delivery latency quantiles in microseconds.
type LatencyReport struct {
	Count uint64  `json:"count"`
	P50   float64 `json:"p50"`
	P90   float64 `json:"p90"`
	P99   float64 `json:"p99"`
	Max   float64 `json:"max"`
}

// ServerReport is the resource use of one --pids process.
type ServerReport struct {
	PID int `json:"pid"`
	// CPUSeconds is utime+stime over the measured window.
	CPUSeconds float64 `json:"cpu_s"`
	// CPUPercent is CPUSeconds over the window's wall time (100 = a core).
	CPUPercent float64 `json:"cpu_pct"`
	// CPUMicrosPerDelivery is CPUSeconds per delivery, in µs.
	CPUMicrosPerDelivery float64 `json:"cpu_us_per_delivery,omitempty"`
	// RSS before connecting, when the window opened and when it closed.
	RSSBeforeMB float64 `json:"rss_before_mb"`
	RSSStartMB  float64 `json:"rss_start_mb"`
	RSSEndMB    float64 `json:"rss_end_mb"`
	// RSSPerConnKB is (RSS end - RSS before) / connections.
	RSSPerConnKB float64 `json:"rss_per_conn_kb"`
	// Error is set when a sample failed (the process died, say).
	Error string `json:"error,omitempty"`
}

func micros(ns int64) float64 { return float64(ns) / 1e3 }

// latencyReport summarises h.
func latencyReport(h *Histogram) LatencyReport {
	if h == nil {
		return LatencyReport{}
	}
	return LatencyReport{
		Count: h.Count(),
		P50:   micros(h.Quantile(0.50)),
		P90:   micros(h.Quantile(0.90)),
		P99:   micros(h.Quantile(0.99)),
		Max:   micros(h.Max()),
	}
}

// serverReport computes the figures of one process from its samples before
// connecting, at the window's start and at its end.
func serverReport(before, start, end ProcSample, conns int, deliveries uint64, errText string) ServerReport {
	const mb = 1 << 20
	r := ServerReport{
		PID:         end.PID,
		CPUSeconds:  (end.CPU - start.CPU).Seconds(),
		RSSBeforeMB: float64(before.RSS) / mb,
		RSSStartMB:  float64(start.RSS) / mb,
		RSSEndMB:    float64(end.RSS) / mb,
		Error:       errText,
	}
	if wall := end.At.Sub(start.At); wall > 0 {
		r.CPUPercent = 100 * r.CPUSeconds / wall.Seconds()
	}
	if deliveries > 0 {
		r.CPUMicrosPerDelivery = r.CPUSeconds * 1e6 / float64(deliveries)
	}
	if conns > 0 {
		r.RSSPerConnKB = (float64(end.RSS) - float64(before.RSS)) / 1024 / float64(conns)
	}
	return r
}

// Progress is what the progress callback receives about once a second.
type Progress struct {
	// Phase is "connecting", "warmup", "measure" or "drain".
	Phase   string
	Elapsed time.Duration
	Conns   int
	// ConnectErrors and Disconnects so far.
	ConnectErrors    uint64
	Disconnects      uint64
	SentPerSec       float64
	DeliveriesPerSec float64
	// P50 and P99 of the measured latencies so far (0 before the window).
	P50, P99 time.Duration
	Servers  []ServerProgress
}

// ServerProgress is the last second's CPU and the RSS of a --pids process.
type ServerProgress struct {
	PID        int
	CPUPercent float64
	RSSMB      float64
}
