// Package netpoll tells when a connection's socket becomes readable, without
// a goroutine per connection.
//
// A Poller owns one epoll instance and one goroutine that waits on it.
// Connections are registered one-shot: when a socket becomes readable (or is
// hung up, or fails) the registration's callback runs once on the poller's
// goroutine and the socket is disarmed until Resume re-arms it. The callback
// must not block; the gateway hands the read off to a goroutine pool
// (internal/gopool), which reads whatever frames are available, then calls
// Resume.
//
// The socket stays registered with (and non-blocking in) Go's own runtime
// poller: the fd is used in place, never duplicated, so reads and writes on
// the net.Conn keep working with deadlines as usual.
//
// Readiness is about the socket only. Anything that buffers above it (a
// bufio.Reader, a *tls.Conn holding a decrypted record) must be drained by
// the handler before Resume, because the socket will not signal those bytes
// again. The simplest correct handler reads one WebSocket frame and calls
// Resume: the registration is level-triggered, so it fires again at once if
// more bytes are waiting.
//
// netpoll works on Linux only; on other platforms New returns ErrUnsupported.
package netpoll
