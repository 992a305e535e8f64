package wsconn

import (
	"errors"
	"strconv"
)

// Sentinel errors wrapped by the *RejectError values that Upgrade returns, so
// callers can count refusals by cause with errors.Is.
var (
	// ErrHeaderTooLarge: the request line and headers passed
	// UpgradeConfig.MaxHeaderBytes (431).
	ErrHeaderTooLarge = errors.New("wsconn: request header too large")
	// ErrTooManyHeaders: more than UpgradeConfig.MaxHeaders header lines (431).
	ErrTooManyHeaders = errors.New("wsconn: too many request headers")
	// ErrEarlyData: the client sent bytes after the request before receiving
	// the 101 response, which RFC 6455 section 4.1 forbids (400).
	ErrEarlyData = errors.New("wsconn: data sent before the handshake completed")
	// ErrBadRequestURI: the request target is not a valid URI (400).
	ErrBadRequestURI = errors.New("wsconn: bad request URI")
	// ErrOriginNotAllowed: the Origin header matched no
	// UpgradeConfig.AllowedOrigins entry (403).
	ErrOriginNotAllowed = errors.New("wsconn: origin not allowed")
	// ErrHandshake: gobwas/ws refused the request (bad method, version,
	// missing or invalid WebSocket headers); the status says which.
	ErrHandshake = errors.New("wsconn: invalid websocket handshake")
)

// CloseError is a protocol violation found by Reader.ReadFrame: the caller
// sends a close frame with Code (AppendClose) and closes the connection.
type CloseError struct {
	Code   uint16
	Reason string
}

// Error implements error.
func (e *CloseError) Error() string {
	return "wsconn: close " + strconv.Itoa(int(e.Code)) + ": " + e.Reason
}

// RejectError is a refused handshake. Upgrade has written an HTTP response
// with Status and Reason as its body before returning it. A UpgradeConfig.Check
// hook returns one to choose the status; Err, if set, is the underlying cause
// (one of the sentinels above, or the hook's own error).
type RejectError struct {
	Status int
	Reason string
	Err    error
}

// Error implements error.
func (e *RejectError) Error() string {
	s := "wsconn: handshake rejected with " + strconv.Itoa(e.Status)
	if e.Reason != "" {
		s += ": " + e.Reason
	}
	if e.Err != nil && e.Err.Error() != e.Reason {
		s += ": " + e.Err.Error()
	}
	return s
}

// Unwrap returns the cause.
func (e *RejectError) Unwrap() error { return e.Err }
