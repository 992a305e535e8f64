package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/loadgen"
)

// options are the parsed flags of `gwbench run`.
type options struct {
	cfg      loadgen.Config
	jsonPath string
	cpuProf  string
	quiet    bool
	verbose  bool
}

func parseRunFlags(args []string, stderr io.Writer) (*options, error) {
	fs := flag.NewFlagSet("gwbench run", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o                options
		proto, src, pids string
		urls             string
		w                = &o.cfg.Worker
	)
	fs.StringVar(&urls, "url", "ws://127.0.0.1:7272/", "server WebSocket URL, or a comma-separated list (connections spread over them)")
	fs.IntVar(&w.Groups, "groups", 0, "put each connection in one of N groups (URL query ?group=<n>); a message reaches its sender's group")
	fs.BoolVar(&w.Independent, "independent", false, "the --url servers are separate (a message reaches its sender's server only)")
	fs.StringVar(&proto, "proto", string(loadgen.DefaultProto), "client protocol: ws (one text frame per message) or centrifuge")
	fs.StringVar(&w.Channel, "channel", loadgen.DefaultChannel, "centrifuge channel")
	fs.IntVar(&w.Conns, "conns", 1000, "connections")
	fs.IntVar(&w.Senders, "senders", 1, "sending connections (among --conns)")
	fs.Float64Var(&w.Rate, "rate", 0, "messages per second per sender")
	fs.BoolVar(&w.Aligned, "aligned", false, "rate-mode senders send at the same instants (default: spread over one interval)")
	fs.BoolVar(&w.ClosedLoop, "closed-loop", false, "each sender sends its next message when its previous one came back")
	fs.BoolVar(&o.cfg.Idle, "idle", false, "hold the connections without sending (RSS per connection)")
	fs.IntVar(&w.Size, "size", loadgen.DefaultSize, "payload bytes (at least 32)")
	fs.DurationVar(&o.cfg.Duration, "duration", loadgen.DefaultDuration, "measured window")
	fs.DurationVar(&o.cfg.Warmup, "warmup", 2*time.Second, "warmup before the window")
	fs.StringVar(&pids, "pids", "", "comma-separated server PIDs to sample (CPU, RSS)")
	fs.StringVar(&o.jsonPath, "json", "", "write the report to this file")
	fs.StringVar(&src, "src", "127.0.0.1", "source addresses: a range 127.0.0.1-127.0.0.50 or a comma list")
	fs.IntVar(&o.cfg.Procs, "procs", 0, "processes holding connections (0: one per 19k connections)")
	fs.IntVar(&w.DialConcurrency, "dial-concurrency", loadgen.DefaultDialConcurrency, "dials in progress at once")
	fs.DurationVar(&w.DialTimeout, "dial-timeout", loadgen.DefaultDialTimeout, "timeout of one dial and handshake")
	fs.StringVar(&o.cpuProf, "cpuprofile", "", "write gwbench's own CPU profile to this file")
	fs.BoolVar(&o.quiet, "quiet", false, "no progress line")
	fs.BoolVar(&o.verbose, "v", false, "debug logs on stderr")
	fs.BoolVar(&w.Compression, "compression", false, "offer permessage-deflate and decompress what the server compresses (the server must accept it)")
	fs.BoolVar(&w.PadJSON, "pad-json", false, "pad payloads past 32 bytes with JSON text (compressible like real messages) instead of dots")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected arguments %q", fs.Args())
	}
	w.Proto = loadgen.Proto(proto)
	for u := range strings.SplitSeq(urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			w.URLs = append(w.URLs, u)
		}
	}
	if len(w.URLs) == 1 {
		w.URL, w.URLs = w.URLs[0], nil
	}
	if o.cfg.Idle {
		w.Senders = 0
	}
	var err error
	if w.Sources, err = parseSources(src); err != nil {
		return nil, err
	}
	if o.cfg.PIDs, err = parsePIDs(pids); err != nil {
		return nil, err
	}
	return &o, nil
}

// parseSources parses "127.0.0.1-127.0.0.50" or "127.0.0.1,127.0.0.2".
func parseSources(s string) ([]netip.Addr, error) {
	var out []netip.Addr
	for part := range strings.SplitSeq(s, ",") {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		lo, hi, isRange := strings.Cut(part, "-")
		first, err := netip.ParseAddr(lo)
		if err != nil {
			return nil, fmt.Errorf("--src: %w", err)
		}
		last := first
		if isRange {
			if last, err = netip.ParseAddr(hi); err != nil {
				return nil, fmt.Errorf("--src: %w", err)
			}
		}
		if !first.Is4() || !last.Is4() || last.Less(first) {
			return nil, fmt.Errorf("--src: bad range %q", part)
		}
		for a := first; ; a = a.Next() {
			out = append(out, a)
			if a == last || len(out) > 1<<16 {
				break
			}
		}
	}
	if len(out) == 0 {
		return nil, errors.New("--src: no address")
	}
	return out, nil
}

func parsePIDs(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 0 {
			return nil, fmt.Errorf("--pids: bad pid %q", f)
		}
		out = append(out, pid)
	}
	return out, nil
}
