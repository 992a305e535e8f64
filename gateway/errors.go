package gateway

import "errors"

var (
	// ErrInvalidConfig is returned by New for an invalid Config.
	ErrInvalidConfig = errors.New("gateway: invalid config")
	// ErrServing is returned by a second call of Serve.
	ErrServing = errors.New("gateway: Serve already called")
	// ErrClientNotFound is the reply error of a command for a connection
	// that is not (or no longer) on this gateway.
	ErrClientNotFound = errors.New("gateway: client not found")
	// ErrBadCommand is the reply error of a malformed command.
	ErrBadCommand = errors.New("gateway: bad command")
	// ErrNoHello is returned to a linker whose first message has no Hello.
	ErrNoHello = errors.New("gateway: first link message must carry hello")
	// ErrLinkProtocol ends a link whose linker broke the Link protocol (an
	// ack of an event never sent, a command of an unknown kind, a second
	// Hello). It is logged and counted (Stats.LinkProtocolErrors).
	ErrLinkProtocol = errors.New("gateway: link protocol error")
	// ErrNotReady is wrapped by Ready's error: not serving, draining, or no
	// worker linked.
	ErrNotReady = errors.New("gateway: not ready")
)
