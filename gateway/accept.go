package gateway

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/wsconn"
)

// acceptLoop accepts clients until the listener is closed. Each handshake
// runs on its own goroutine (owned by connWG), bounded by HandshakeTimeout.
func (g *Gateway) acceptLoop(lis net.Listener) error {
	var delay time.Duration
	for {
		nc, err := lis.Accept()
		if err != nil {
			if g.draining.Load() || errors.Is(err, net.ErrClosed) {
				return nil
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				// Temporary (e.g. out of file descriptors): back off.
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				g.log.Warn("accept failed, retrying", "err", err, "delay", delay)
				select {
				case <-time.After(delay):
				case <-g.quit:
					return nil
				}
				continue
			}
			return fmt.Errorf("gateway: accept: %w", err)
		}
		delay = 0
		g.connWG.Add(1)
		go g.handshake(nc)
	}
}

// handshake upgrades one client and attaches it.
func (g *Gateway) handshake(nc net.Conn) {
	defer g.connWG.Done()
	n := g.nconns.Add(1)
	// The deadline is set before tracking so that an abort wins over it.
	_ = nc.SetDeadline(time.Now().Add(g.cfg.HandshakeTimeout))
	if !g.trackHandshake(nc) {
		g.nconns.Add(-1)
		_ = nc.Close()
		return
	}
	over := g.cfg.MaxConnections > 0 && n > int64(g.cfg.MaxConnections)
	remote := nc.RemoteAddr().String()
	ucfg := wsconn.UpgradeConfig{
		AllowedOrigins: g.cfg.AllowedOrigins,
		Check: func(h *wsconn.Handshake) error {
			if over {
				return &wsconn.RejectError{Status: http.StatusServiceUnavailable, Reason: "too many connections"}
			}
			if g.cfg.OnHandshake == nil {
				return nil
			}
			err := g.cfg.OnHandshake(publicHandshake(h, remote))
			var he *HandshakeError
			if errors.As(err, &he) {
				return &wsconn.RejectError{Status: he.Status, Reason: he.Reason}
			}
			return err
		},
		Compression: !g.cfg.DisableCompression,
	}
	hs, err := wsconn.Upgrade(nc, &ucfg)
	if err != nil {
		g.stats.rejected.Add(1)
		if over {
			g.stats.overLimit.Add(1)
		}
		g.log.Debug("handshake failed", "remote", remote, "err", err)
		if errors.As(err, new(*wsconn.RejectError)) {
			g.lingerClose(nc)
		}
		g.untrackHandshake(nc)
		g.nconns.Add(-1)
		_ = nc.Close()
		return
	}
	g.untrackHandshake(nc)
	_ = nc.SetDeadline(time.Time{})
	g.stats.accepted.Add(1)
	g.attach(nc, remote, &hs)
}

func publicHandshake(h *wsconn.Handshake, remote string) *Handshake {
	out := &Handshake{Path: h.Path, RawQuery: h.RawQuery, RemoteAddr: remote}
	if len(h.Headers) > 0 {
		out.Headers = make([]Header, len(h.Headers))
		for i, hd := range h.Headers {
			out.Headers[i] = Header{Name: hd.Name, Value: hd.Value}
		}
	}
	return out
}

// trackHandshake records nc so that shutdown can abort its handshake; it
// reports false when the gateway is already draining.
func (g *Gateway) trackHandshake(nc net.Conn) bool {
	g.hsMu.Lock()
	defer g.hsMu.Unlock()
	if g.draining.Load() {
		return false
	}
	g.handshaking[nc] = struct{}{}
	return true
}

func (g *Gateway) untrackHandshake(nc net.Conn) {
	g.hsMu.Lock()
	delete(g.handshaking, nc)
	g.hsMu.Unlock()
}

// abortHandshakes makes every handshake in progress fail now.
func (g *Gateway) abortHandshakes() {
	g.hsMu.Lock()
	defer g.hsMu.Unlock()
	for nc := range g.handshaking {
		_ = nc.SetDeadline(time.Now())
	}
}

// Bounds of the lingering close after an HTTP error response.
const (
	rejectLinger   = 500 * time.Millisecond
	rejectDrainMax = 64 << 10
)

// lingerClose half-closes nc after an HTTP error response and reads (and
// discards) what the client still sends, for at most rejectLinger and
// rejectDrainMax bytes, before the caller closes it. Closing a socket with
// unread input sends a TCP reset, which can destroy the response before the
// client reads it (a client still sending a too-large header, or frames
// right after its request). Not during shutdown.
func (g *Gateway) lingerClose(nc net.Conn) {
	if g.draining.Load() {
		return
	}
	if cw, ok := nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = nc.SetReadDeadline(time.Now().Add(rejectLinger))
	_, _ = io.CopyN(io.Discard, nc, rejectDrainMax)
}
