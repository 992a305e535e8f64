package loadgen

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"net/url"
	"os/exec"
	"time"
)

// Proto names the client protocol spoken to the server.
type Proto string

// Protocols.
const (
	// ProtoWS sends the workload payload as one text frame per message and
	// expects the server to forward the same frame to every connection.
	ProtoWS Proto = "ws"
	// ProtoCentrifuge speaks centrifuge's JSON client protocol: connect,
	// subscribe to Channel, publish into it, receive push publications.
	ProtoCentrifuge Proto = "centrifuge"
)

// Defaults applied to zero Config and WorkerConfig fields.
const (
	DefaultProto             = ProtoWS
	DefaultChannel           = "chat"
	DefaultSize              = PayloadSize
	DefaultDialConcurrency   = 64
	DefaultDialTimeout       = 10 * time.Second
	DefaultReadBufferSize    = 1024
	DefaultMaxMessageSize    = 1 << 20
	DefaultClosedLoopTimeout = time.Second
	DefaultDrainQuiet        = 250 * time.Millisecond
	DefaultDrainTimeout      = 3 * time.Second
	DefaultConnsPerProc      = 19000
	DefaultDuration          = 10 * time.Second
	DefaultProgressInterval  = time.Second
	// GroupParam is the URL query parameter naming a connection's group.
	GroupParam = "group"
)

// DefaultSource is the source address used when none is given.
var DefaultSource = netip.MustParseAddr("127.0.0.1")

// WorkerConfig configures the connections of one process. Zero fields take
// the Default values above.
type WorkerConfig struct {
	// URL is the server's ws:// URL. Required unless URLs is set.
	URL string `json:"url"`
	// URLs, when set, are several servers (gateways of one cluster, or
	// independent servers with Independent): connections are spread over
	// them (see Layout). URL then defaults to URLs[0].
	URLs []string `json:"urls,omitempty"`
	// Groups, when positive, puts every connection in one of Groups groups
	// (the query parameter GroupParam=<n> of its URL, which the server joins
	// it to) and expects each message to reach the connections of its
	// sender's group only. The first Groups senders are one per group.
	Groups int `json:"groups,omitempty"`
	// Independent says the URLs are separate servers that do not forward
	// to each other: a message reaches the connections of its sender's URL
	// only (with Groups, a group stays on one URL, so Groups must be a
	// multiple of len(URLs)). Otherwise the URLs are one cluster and a
	// group spreads over all of them.
	Independent bool `json:"independent,omitempty"`
	// Proto is the client protocol; "" means DefaultProto.
	Proto Proto `json:"proto"`
	// Channel is the centrifuge channel; "" means DefaultChannel.
	Channel string `json:"channel,omitempty"`
	// Conns is the number of connections this process opens.
	Conns int `json:"conns"`
	// ConnBase is the run-wide index of this process's first connection; it
	// picks the first source address of the round robin.
	ConnBase int `json:"conn_base"`
	// Senders is how many of this process's connections send (the first
	// ones). Must not exceed Conns.
	Senders int `json:"senders"`
	// SenderBase is the run-wide id of this process's first sender.
	SenderBase int `json:"sender_base"`
	// TotalSenders is the number of senders in the whole run; 0 means
	// SenderBase+Senders.
	TotalSenders int `json:"total_senders"`
	// Rate is messages per second per sender; exclusive with ClosedLoop.
	Rate float64 `json:"rate,omitempty"`
	// Aligned makes rate-mode senders send at the same instants instead of
	// spread evenly over one interval: N independent servers with one
	// sender each then fan out at the same time, like one cluster's
	// SendToAll.
	Aligned bool `json:"aligned,omitempty"`
	// ClosedLoop makes each sender send its next message once its previous
	// one came back to it (or ClosedLoopTimeout passed, counted as a stall).
	ClosedLoop bool `json:"closed_loop,omitempty"`
	// Size is the payload size in bytes, at least PayloadSize.
	Size int `json:"size"`
	// Sources are the local IPv4 loopback addresses connections are bound
	// to, round robin; empty means DefaultSource.
	Sources []netip.Addr `json:"sources"`
	// DialConcurrency bounds the dials in progress.
	DialConcurrency int `json:"dial_concurrency"`
	// DialTimeout bounds one dial and protocol handshake.
	DialTimeout time.Duration `json:"dial_timeout"`
	// ReadBufferSize is the read buffer of each connection.
	ReadBufferSize int `json:"read_buffer_size"`
	// MaxMessageSize is the largest message a connection accepts.
	MaxMessageSize int `json:"max_message_size"`
	// ClosedLoopTimeout is how long a closed-loop sender waits for its echo.
	ClosedLoopTimeout time.Duration `json:"closed_loop_timeout"`
	// DrainQuiet ends the drain after the window once no delivery arrived
	// for that long.
	DrainQuiet time.Duration `json:"drain_quiet"`
	// DrainTimeout bounds the drain.
	DrainTimeout time.Duration `json:"drain_timeout"`
	// Epoch is the CLOCK_MONOTONIC value (MonotonicNow) the run's clock
	// counts from; 0 means now. Every process of a run must share it.
	Epoch int64 `json:"epoch"`
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger `json:"-"`

	// Compression makes every connection offer permessage-deflate and
	// decompress what the server sends compressed (deflate.go); a server
	// that does not accept it fails the dial.
	Compression bool `json:"compression,omitempty"`
	// PadJSON pads payloads past PayloadSize with JSON text instead of
	// PadByte, so that they compress like real JSON messages.
	PadJSON bool `json:"pad_json,omitempty"`
}

func (c *WorkerConfig) setDefaults() error {
	if c.URL == "" && len(c.URLs) > 0 {
		c.URL = c.URLs[0]
	}
	if c.URL == "" {
		return fmt.Errorf("%w: URL is required", ErrInvalidConfig)
	}
	if len(c.URLs) == 0 {
		c.URLs = []string{c.URL}
	}
	for _, s := range c.URLs {
		u, err := url.Parse(s)
		if err != nil || u.Scheme != "ws" {
			return fmt.Errorf("%w: URL %q is not a ws:// URL", ErrInvalidConfig, s)
		}
	}
	switch {
	case c.Groups < 0:
		return fmt.Errorf("%w: negative groups", ErrInvalidConfig)
	case c.Groups > 0 && c.Independent && c.Groups%len(c.URLs) != 0:
		return fmt.Errorf("%w: %d groups over %d independent URLs: want a multiple", ErrInvalidConfig, c.Groups, len(c.URLs))
	}
	if c.Proto == "" {
		c.Proto = DefaultProto
	}
	if c.Proto != ProtoWS && c.Proto != ProtoCentrifuge {
		return fmt.Errorf("%w: unknown proto %q", ErrInvalidConfig, c.Proto)
	}
	if c.Channel == "" {
		c.Channel = DefaultChannel
	}
	switch {
	case c.Conns < 0, c.Senders < 0, c.ConnBase < 0, c.SenderBase < 0:
		return fmt.Errorf("%w: negative count", ErrInvalidConfig)
	case c.Senders > c.Conns:
		return fmt.Errorf("%w: %d senders for %d connections", ErrInvalidConfig, c.Senders, c.Conns)
	case c.Rate < 0:
		return fmt.Errorf("%w: negative rate", ErrInvalidConfig)
	case c.Rate > 0 && c.ClosedLoop:
		return fmt.Errorf("%w: rate and closed loop are exclusive", ErrInvalidConfig)
	case c.Senders > 0 && c.Rate == 0 && !c.ClosedLoop:
		return fmt.Errorf("%w: senders need a rate or closed loop", ErrInvalidConfig)
	}
	if c.TotalSenders == 0 {
		c.TotalSenders = c.SenderBase + c.Senders
	}
	if c.TotalSenders < c.SenderBase+c.Senders {
		return fmt.Errorf("%w: total senders %d below %d", ErrInvalidConfig, c.TotalSenders, c.SenderBase+c.Senders)
	}
	if c.Size == 0 {
		c.Size = DefaultSize
	}
	if c.Size < PayloadSize {
		return fmt.Errorf("%w: size %d below %d", ErrInvalidConfig, c.Size, PayloadSize)
	}
	if len(c.Sources) == 0 {
		c.Sources = []netip.Addr{DefaultSource}
	}
	if err := parseAddrs(c.Sources); err != nil {
		return err
	}
	setDefault(&c.DialConcurrency, DefaultDialConcurrency)
	setDefault(&c.DialTimeout, DefaultDialTimeout)
	setDefault(&c.ReadBufferSize, DefaultReadBufferSize)
	setDefault(&c.MaxMessageSize, DefaultMaxMessageSize)
	setDefault(&c.ClosedLoopTimeout, DefaultClosedLoopTimeout)
	setDefault(&c.DrainQuiet, DefaultDrainQuiet)
	setDefault(&c.DrainTimeout, DefaultDrainTimeout)
	if c.MaxMessageSize < c.Size+64 {
		return fmt.Errorf("%w: max message size %d below size %d", ErrInvalidConfig, c.MaxMessageSize, c.Size)
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}

func setDefault[T int | time.Duration](v *T, d T) {
	if *v < 0 {
		*v = 0
	}
	if *v == 0 {
		*v = d
	}
}

// Config configures a Bench: a whole run over one or more processes.
type Config struct {
	// Worker holds the connection settings; its Conns, Senders, ConnBase,
	// SenderBase, TotalSenders and Epoch are the run's totals and are split
	// over the processes by the Bench.
	Worker WorkerConfig
	// Idle holds the connections without sending (Worker.Senders must be
	// 0), for the RSS per connection.
	Idle bool
	// Warmup runs before the measured window (senders already send);
	// 0 means none.
	Warmup time.Duration
	// Duration is the measured window; 0 means DefaultDuration.
	Duration time.Duration
	// PIDs are the server processes whose CPU and RSS are sampled.
	PIDs []int
	// Procs is the number of processes holding connections; 0 means
	// ceil(Conns/ConnsPerProc). With 1 the connections stay in this process.
	Procs int
	// ConnsPerProc is the automatic share of a process; 0 means
	// DefaultConnsPerProc (a process may hold 20,000 open files).
	ConnsPerProc int
	// ChildCommand returns the command of a child process that runs
	// ServeChild on its stdin and stdout. Required when Procs > 1.
	ChildCommand func(ctx context.Context) *exec.Cmd
	// ProgressInterval is the period of the progress callback.
	ProgressInterval time.Duration
	// Logger receives debug logs; nil discards them.
	Logger *slog.Logger
}
