package linker

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"google.golang.org/grpc"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Defaults for zero Config fields.
const (
	// DefaultWindowEvents is the most events a worker asks each gateway to
	// have in flight to it (sent, not acked); the gateway may allow fewer.
	DefaultWindowEvents = 1024
	// DefaultWindowBytes is the most event bytes a worker asks each gateway
	// to have in flight to it (8 MiB).
	DefaultWindowBytes = 8 << 20
	// DefaultSlowHandler is how long a handler may run before the watchdog
	// reports it (once per event).
	DefaultSlowHandler = 30 * time.Second
	// DefaultMaxBatchBytes caps the commands of one LinkRequest (1 MiB); a
	// single larger command still goes alone.
	DefaultMaxBatchBytes = 1 << 20
	// DefaultMaxBatchCommands caps the number of commands of one LinkRequest.
	DefaultMaxBatchCommands = 1024
	// DefaultMaxQueueBytes bounds the commands queued for one gateway
	// (64 MiB). Past it, enqueuing blocks (bounded by the caller's ctx) while
	// the link is up, and fails with ErrLinkDown while it is down.
	DefaultMaxQueueBytes = 64 << 20
	// DefaultMaxQueueAge is how long a command may wait in a gateway's queue
	// (while its link is down, or behind a slow link) before it is dropped
	// unsent and counted (Linker.ExpiredCommands): a gateway that comes back
	// later does not get stale commands replayed.
	DefaultMaxQueueAge = 30 * time.Second
	// DefaultAckDelay is the longest an ack waits to be coalesced with later
	// ones while events of the link are still in hand.
	DefaultAckDelay = 5 * time.Millisecond
	// DefaultQueryTimeout bounds a query or flush whose ctx has no deadline.
	DefaultQueryTimeout = 10 * time.Second
	// DefaultConnectWait is how long a query waits for a gateway that joined
	// the set and has not linked yet; a link that was up and broke fails at
	// once with ErrLinkDown.
	DefaultConnectWait = 3 * time.Second
	// DefaultDialTimeout bounds dialing a gateway and its Hello/Welcome.
	DefaultDialTimeout = 3 * time.Second
	// DefaultCloseTimeout bounds the goodbye of a link on shutdown (last
	// commands and ack, then the end of the stream).
	DefaultCloseTimeout = time.Second
)

// maxCommandBytes is the largest command accepted: one gRPC message minus
// room for the LinkRequest envelope.
const maxCommandBytes = discovery.MaxMessageSize - 64<<10

// Source reports the set of live gateways: it calls onChange with the full set
// after the first snapshot and after every change, never concurrently, until
// ctx is done. discovery.Watcher.Run has this shape.
type Source func(ctx context.Context, onChange func(gateways []*pb.GatewayInfo)) error

// Event is one client event received from a gateway.
type Event struct {
	Gateway uint64    // node id of the gateway; the client id is (Gateway, Ev.Conn)
	Ev      *pb.Event // owned by the handler
}

// EventHandler handles one event. It may block; it runs concurrently for
// different clients and in order for one client (a blocked handler holds up
// only its own client's later events). The event is acked when it returns.
// ctx is cancelled when the Linker gives up on events in hand (Drain's ctx
// expired, or Run returned).
type EventHandler func(ctx context.Context, ev Event)

// Config configures a Linker.
type Config struct {
	// Registers are the register addresses watched when Source is nil.
	Registers []string
	// Source overrides the discovery of gateways (tests, static sets).
	Source Source
	// Secret is the cluster secret sent on every call.
	Secret string
	// Name is sent in Hello for the gateway's logs.
	Name string
	// Lazy starts the Linker (Start) on its first command or query, for
	// push clients that should not link before they are used; Close stops it.
	Lazy bool
	// Events makes this linker a worker: gateways route client events to it
	// and Handler is required.
	Events  bool
	Handler EventHandler
	// HoldEvents, with Events, links as a push client (no events) until
	// OpenEvents is called, e.g. while the worker starts: commands and
	// queries work, and no event comes.
	HoldEvents bool
	// WindowEvents and WindowBytes are the window asked of each gateway:
	// the most events (and bytes) in flight to this worker on one link
	// (DefaultWindowEvents, DefaultWindowBytes; a gateway may allow
	// fewer). They bound what a worker holds per gateway.
	WindowEvents int
	WindowBytes  int
	// SlowHandler is how long a handler may run before OnSlowHandler is
	// called for it, once per event (DefaultSlowHandler; negative: never).
	SlowHandler time.Duration
	// OnSlowHandler is called (from the watchdog goroutine) for each
	// handler running longer than SlowHandler; nil: logged at Warn level.
	OnSlowHandler func(gateway, conn uint64, kind string, running time.Duration)
	// DialOptions are extra gRPC dial options (e.g. TLS credentials).
	DialOptions []grpc.DialOption
	// MinBackoff and MaxBackoff bound the reconnect delays
	// (discovery.DefaultMinBackoff, discovery.DefaultMaxBackoff).
	MinBackoff, MaxBackoff time.Duration
	MaxBatchBytes          int           // DefaultMaxBatchBytes
	MaxBatchCommands       int           // DefaultMaxBatchCommands
	MaxQueueBytes          int           // DefaultMaxQueueBytes
	MaxQueueAge            time.Duration // DefaultMaxQueueAge
	AckDelay               time.Duration // DefaultAckDelay
	QueryTimeout           time.Duration // DefaultQueryTimeout
	ConnectWait            time.Duration // DefaultConnectWait
	DialTimeout            time.Duration // DefaultDialTimeout
	CloseTimeout           time.Duration // DefaultCloseTimeout
	// Logger receives link state changes; nil discards.
	Logger *slog.Logger
}

func (c *Config) setDefaults() error {
	if c.Source == nil && len(c.Registers) == 0 {
		return fmt.Errorf("%w: Registers or Source required", ErrConfig)
	}
	if c.Events && c.Handler == nil {
		return fmt.Errorf("%w: Handler required with Events", ErrConfig)
	}
	if c.WindowEvents < 0 || c.WindowBytes < 0 || c.MaxBatchBytes < 0 || c.MaxBatchCommands < 0 || c.MaxQueueBytes < 0 ||
		c.MaxQueueAge < 0 || c.AckDelay < 0 || c.QueryTimeout < 0 || c.ConnectWait < 0 || c.DialTimeout < 0 ||
		c.CloseTimeout < 0 || c.MinBackoff < 0 || c.MaxBackoff < 0 {
		return fmt.Errorf("%w: negative value", ErrConfig)
	}
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	defDur := func(v *time.Duration, d time.Duration) {
		if *v == 0 {
			*v = d
		}
	}
	def(&c.WindowEvents, DefaultWindowEvents)
	def(&c.WindowBytes, DefaultWindowBytes)
	defDur(&c.SlowHandler, DefaultSlowHandler)
	def(&c.MaxBatchBytes, DefaultMaxBatchBytes)
	def(&c.MaxBatchCommands, DefaultMaxBatchCommands)
	def(&c.MaxQueueBytes, DefaultMaxQueueBytes)
	defDur(&c.MaxQueueAge, DefaultMaxQueueAge)
	defDur(&c.AckDelay, DefaultAckDelay)
	defDur(&c.QueryTimeout, DefaultQueryTimeout)
	defDur(&c.ConnectWait, DefaultConnectWait)
	defDur(&c.DialTimeout, DefaultDialTimeout)
	defDur(&c.CloseTimeout, DefaultCloseTimeout)
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	return nil
}
