package discovery

import "errors"

var (
	// ErrNoRegisters is returned by NewAnnouncer and NewWatcher without any
	// register address.
	ErrNoRegisters = errors.New("discovery: no register address")
	// ErrInvalidGateway is returned by NewAnnouncer when the GatewayInfo is
	// missing, has a zero node id or an empty LAN address.
	ErrInvalidGateway = errors.New("discovery: invalid gateway info")
	// ErrInvalidConfig is returned for negative durations or MinBackoff > MaxBackoff.
	ErrInvalidConfig = errors.New("discovery: invalid config")
	// ErrRunning is returned by Run when the same Announcer or Watcher is
	// already running.
	ErrRunning = errors.New("discovery: already running")
	// ErrNotReady is returned by Dial when the connection failed before it
	// became ready.
	ErrNotReady = errors.New("discovery: connection not ready")
	// errNoAnswer ends a session whose register stopped answering.
	errNoAnswer = errors.New("discovery: register stopped answering")
	// errProtocol ends a session on an unexpected message.
	errProtocol = errors.New("discovery: unexpected message from register")
)
