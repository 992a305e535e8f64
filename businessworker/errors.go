package businessworker

import (
	"errors"

	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// Errors returned by the API. Errors about one gateway are *GatewayError
// values wrapping one of these.
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

	// ErrGatewayNotLinked: the client's gateway is not among the live
	// gateways (it stopped, or the client id is stale).
	ErrGatewayNotLinked = linker.ErrNotLinked
	// ErrLinkDown: the gateway is live but its link is reconnecting.
	ErrLinkDown = linker.ErrLinkDown
	// ErrClosed: the Worker or push client has stopped.
	ErrClosed = linker.ErrClosed
	// ErrTooLarge: a message does not fit in one internal message (16 MiB).
	ErrTooLarge = linker.ErrTooLarge
	// ErrGateway: a gateway refused a command (the error carries its text).
	ErrGateway = linker.ErrReply
)

// GatewayError is an error about one gateway; Node is its node id. Use
// errors.As to find which gateways failed in a joined error.
type GatewayError = linker.GatewayError
