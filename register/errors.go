package register

import "errors"

var (
	// ErrInvalidConfig is returned by New and NewClusterStore for a config
	// that cannot work (negative durations, DefaultTTL > MaxTTL...).
	ErrInvalidConfig = errors.New("register: invalid config")
	// ErrServed is returned by Serve when the Register is already serving or
	// has served: a Register serves once.
	ErrServed = errors.New("register: already served")
	// ErrClosed is returned by a Store used after Close, and is the Err of
	// its subscriptions once it is closed.
	ErrClosed = errors.New("register: store closed")
	// ErrSlowWatcher is the Err of a Subscription dropped because its buffer
	// overflowed.
	ErrSlowWatcher = errors.New("register: watcher too slow")
	// ErrInvalidGateway is returned by Store.Put for a GatewayInfo with a
	// zero node id or an empty LAN address.
	ErrInvalidGateway = errors.New("register: invalid gateway info")
	// ErrNotReady is wrapped by Ready's error: not serving (yet or any more).
	ErrNotReady = errors.New("register: not ready")
)
