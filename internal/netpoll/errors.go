package netpoll

import "errors"

// Sentinel errors.
var (
	// ErrUnsupported is returned by New on platforms without epoll.
	ErrUnsupported = errors.New("netpoll: not supported on this platform (linux only)")
	// ErrClosed is returned by Add and Resume after Close.
	ErrClosed = errors.New("netpoll: poller closed")
	// ErrRemoved is returned by Resume after Remove.
	ErrRemoved = errors.New("netpoll: descriptor removed")
	// ErrNotSyscallConn is returned by Add for a net.Conn that does not expose
	// its file descriptor (syscall.Conn), such as a *tls.Conn: pass the
	// underlying TCP connection (tls.Conn.NetConn) instead.
	ErrNotSyscallConn = errors.New("netpoll: connection does not implement syscall.Conn")
	// ErrNilCallback is returned by Add without a callback.
	ErrNilCallback = errors.New("netpoll: nil onReady callback")
)
