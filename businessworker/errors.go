package businessworker

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Errors returned by the API. Errors about one gateway are *GatewayError
// values wrapping one of these (or a ctx error).
var (
	// ErrInvalidClientID: a client id is not 32 hex characters with a nonzero
	// gateway half (the error also wraps the parse error).
	ErrInvalidClientID = errors.New("businessworker: invalid client id")
	// ErrEmptyGroup: a group name is "".
	ErrEmptyGroup = errors.New("businessworker: empty group")
	// ErrEmptyUID: a uid is "".
	ErrEmptyUID = errors.New("businessworker: empty uid")
	// ErrClientNotFound: the client is not connected.
	ErrClientNotFound = errors.New("businessworker: client not found")
	// ErrInvalidConfig: New got an invalid Config.
	ErrInvalidConfig = errors.New("businessworker: invalid config")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("businessworker: already running")
	// ErrInvalidOption: an option does not apply to the call.
	ErrInvalidOption = errors.New("businessworker: option not valid here")
	// ErrNotInitialized: the Worker or API is a zero value, not made by
	// New (or pushclient.New).
	ErrNotInitialized = errors.New("businessworker: not made by New")

	// ErrGatewayNotLinked: the client's gateway is not among the live
	// gateways (it stopped, or the client id is stale).
	ErrGatewayNotLinked = errors.New("businessworker: gateway not linked")
	// ErrLinkDown: the gateway is live but its link is reconnecting.
	ErrLinkDown = errors.New("businessworker: link down")
	// ErrClosed: the Worker or push client has stopped.
	ErrClosed = errors.New("businessworker: closed")
	// ErrTooLarge: a message does not fit in one internal message (16 MiB).
	ErrTooLarge = errors.New("businessworker: message too large")
	// ErrGateway: a gateway refused a command (the error carries its text).
	ErrGateway = errors.New("businessworker: gateway error")
)

// GatewayError is an error about one gateway. A call that involves several
// gateways returns one GatewayError per gateway that failed, joined with
// errors.Join: use errors.As to find them.
type GatewayError struct {
	// Node is the gateway's node id, 16 hex characters (as
	// Client.Gateway).
	Node string
	// Err is what went wrong with that gateway: ErrGatewayNotLinked,
	// ErrLinkDown, ErrClosed, ErrTooLarge, ErrGateway (wrapping the
	// gateway's own text) or the caller's ctx error.
	Err error
}

// Error reads "businessworker: gateway NODE: " and Err's text without its
// package prefix.
func (e *GatewayError) Error() string {
	return "businessworker: gateway " + e.Node + ": " + strings.TrimPrefix(e.Err.Error(), "businessworker: ")
}

// Unwrap returns Err.
func (e *GatewayError) Unwrap() error { return e.Err }

// sentinels maps the linker's errors to this package's.
var sentinels = []struct{ from, to error }{
	{linker.ErrNotLinked, ErrGatewayNotLinked},
	{linker.ErrLinkDown, ErrLinkDown},
	{linker.ErrClosed, ErrClosed},
	{linker.ErrTooLarge, ErrTooLarge},
	{linker.ErrReply, ErrGateway},
}

// exportErr turns an error of the linker into this package's: its sentinel
// errors into ours (keeping the rest of the text), *linker.GatewayError
// into *GatewayError, joined errors one by one.
func exportErr(err error) error {
	if err == nil {
		return nil
	}
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		out := make([]error, len(errs))
		for i, e := range errs {
			out[i] = exportErr(e)
		}
		return errors.Join(out...)
	}
	if ge, ok := err.(*linker.GatewayError); ok {
		return &GatewayError{Node: clientid.FormatNode(ge.Node), Err: exportErr(ge.Err)}
	}
	for _, s := range sentinels {
		if errors.Is(err, s.from) {
			if err == s.from {
				return s.to
			}
			return fmt.Errorf("%w%s", s.to, strings.TrimPrefix(err.Error(), s.from.Error()))
		}
	}
	return err
}

// The linker calls of the API, with their errors exported.

func (a *API) enqueue(ctx context.Context, node uint64, cmds ...*pb.Command) error {
	if a == nil || a.l == nil {
		return ErrNotInitialized
	}
	return exportErr(a.l.Enqueue(ctx, node, cmds...))
}

func (a *API) enqueueAll(ctx context.Context, build func(node uint64) *pb.Command) error {
	if a == nil || a.l == nil {
		return ErrNotInitialized
	}
	return exportErr(a.l.EnqueueAll(ctx, build))
}

func (a *API) request(ctx context.Context, nodes []uint64, build func(node uint64) *pb.Command) ([]linker.Reply, error) {
	if a == nil || a.l == nil {
		return nil, ErrNotInitialized
	}
	r, err := a.l.Request(ctx, nodes, build)
	return r, exportErr(err)
}

func (a *API) query(ctx context.Context, nodes []uint64, build func(node uint64) *pb.Query) (*linker.Result, error) {
	if a == nil || a.l == nil {
		return &linker.Result{}, ErrNotInitialized // callers read the result
	}
	r, err := a.l.Query(ctx, nodes, build)
	return r, exportErr(err)
}
