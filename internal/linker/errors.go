package linker

import "errors"

// Sentinel errors. Errors about one gateway are wrapped with its node id (see
// GatewayError).
var (
	// ErrNotLinked: the client id's gateway is not in the watched set.
	ErrNotLinked = errors.New("linker: gateway not linked")
	// ErrLinkDown: the gateway is known but its link is down (reconnecting)
	// and the operation needs an answer or the queue is full.
	ErrLinkDown = errors.New("linker: link down")
	// ErrClosed: the Linker is not running (Run returned, or Close).
	ErrClosed = errors.New("linker: closed")
	// ErrRunning: Run was called twice.
	ErrRunning = errors.New("linker: already running")
	// ErrTooLarge: a command does not fit in one gRPC message.
	ErrTooLarge = errors.New("linker: command too large")
	// ErrReply: the gateway answered a command with an error.
	ErrReply = errors.New("linker: gateway error")
	// ErrProtocol: the gateway broke the Link protocol.
	ErrProtocol = errors.New("linker: protocol error")
	// ErrConfig: invalid Config.
	ErrConfig = errors.New("linker: invalid config")
)

// GatewayError is an error about one gateway.
type GatewayError struct {
	Node uint64 // gateway node id
	Err  error
}

func (e *GatewayError) Error() string {
	return "gateway " + formatNode(e.Node) + ": " + e.Err.Error()
}

func (e *GatewayError) Unwrap() error { return e.Err }

func gwErr(node uint64, err error) error {
	if err == nil {
		return nil
	}
	return &GatewayError{Node: node, Err: err}
}
