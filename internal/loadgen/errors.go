package loadgen

import "errors"

// Sentinel errors. Callers match them with errors.Is.
var (
	// ErrInvalidConfig is wrapped by every configuration validation error.
	ErrInvalidConfig = errors.New("loadgen: invalid config")
	// ErrBadPayload reports a message body that is not a workload message.
	ErrBadPayload = errors.New("loadgen: bad payload")
	// ErrBadFrame reports a WebSocket frame the reader cannot accept.
	ErrBadFrame = errors.New("loadgen: bad frame")
	// ErrFrameTooLarge reports a message larger than the reader's limit.
	ErrFrameTooLarge = errors.New("loadgen: frame too large")
	// ErrClosed is returned by calls on a closed Worker or Bench.
	ErrClosed = errors.New("loadgen: closed")
	// ErrNoChildCommand reports a run that needs child processes but has no
	// Config.ChildCommand to start them.
	ErrNoChildCommand = errors.New("loadgen: child processes needed but no child command")
	// ErrChild reports a child process that failed or broke the protocol.
	ErrChild = errors.New("loadgen: child process failed")
	// ErrProc reports a /proc entry that could not be read or parsed.
	ErrProc = errors.New("loadgen: cannot read /proc")
	// ErrNoConnections reports a run in which no connection could be opened.
	ErrNoConnections = errors.New("loadgen: no connection opened")
)
