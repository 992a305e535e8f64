package gateway

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/proxyproto"
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
	n := g.edge.handshakes.Add(1)
	// The deadline is set before tracking so that an abort wins over it.
	_ = nc.SetDeadline(time.Now().Add(g.cfg.HandshakeTimeout))
	if !g.trackHandshake(nc) {
		g.edge.handshakes.Add(-1)
		_ = nc.Close()
		return
	}
	if n > int64(g.cfg.MaxHandshakes) {
		g.edge.handshakes.Add(-1) // a refused connection holds no slot
		g.refuseOverloaded(nc)
		return
	}
	defer g.edge.handshakes.Add(-1)
	peer := peerAddr(nc)
	proxied := false
	if g.cfg.ProxyProtocol {
		raw := nc
		if tc, ok := nc.(*tls.Conn); ok {
			raw = tc.NetConn() // the header comes before TLS
		}
		addr, err := g.readProxyHeader(raw, peer)
		if err != nil {
			g.edge.proxyHeader.Add(1)
			g.stats.rejected.Add(1)
			g.log.Debug("PROXY header refused", "peer", peer, "err", err)
			g.untrackHandshake(nc)
			_ = nc.Close()
			return
		}
		proxied = addr != peer
		peer = addr
	}
	remote := nc.RemoteAddr().String()
	if peer.IsValid() {
		remote = peer.String()
	}
	var (
		ca       clientAddr
		admitted bool // counted in nconns
		cause    string
	)
	ucfg := wsconn.UpgradeConfig{
		AllowedOrigins: g.cfg.AllowedOrigins,
		Protocols:      g.cfg.Subprotocols,
		Check: func(h *wsconn.Handshake) error {
			ca.addr = peer
			if len(g.edge.trusted) > 0 && peer.IsValid() {
				if ip := g.edge.trusted.FromForwarded(peer.Addr(), h.Values("X-Forwarded-For")); ip != peer.Addr() {
					ca.addr = netip.AddrPortFrom(ip, 0)
					proxied = true
					remote = ca.addr.String()
				}
			}
			if cause, ca.counted = g.admitAddr(ca.addr); cause != "" {
				status, reason := http.StatusServiceUnavailable, "too many connections from this address"
				if cause == refusedRatePerIP {
					status, reason = http.StatusTooManyRequests, "too many handshakes from this address"
				}
				return &wsconn.RejectError{Status: status, Reason: reason}
			}
			admitted = true
			if n := g.nconns.Add(1); g.cfg.MaxConnections > 0 && n > int64(g.cfg.MaxConnections) {
				cause = refusedMaxConnections
				return &wsconn.RejectError{Status: http.StatusServiceUnavailable, Reason: "too many connections"}
			}
			if g.cfg.OnHandshake == nil {
				return nil
			}
			pub := publicHandshake(h, remote)
			err := g.cfg.OnHandshake(pub)
			h.Protocol = pub.Subprotocol
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
		if cause == refusedMaxConnections {
			g.stats.overLimit.Add(1)
		}
		if admitted {
			g.nconns.Add(-1)
		}
		if ca.counted {
			g.edge.limiter.Release(ca.addr.Addr())
		}
		g.log.Debug("handshake failed", "remote", remote, "err", err)
		if errors.As(err, new(*wsconn.RejectError)) {
			g.lingerClose(nc)
		}
		g.untrackHandshake(nc)
		_ = nc.Close()
		return
	}
	g.untrackHandshake(nc)
	_ = nc.SetDeadline(time.Time{})
	g.stats.accepted.Add(1)
	g.attach(nc, remote, &hs, ca, proxied)
}

// refuseOverloaded answers a connection past MaxHandshakes with 503,
// before reading its request. The lingering close that lets the client read
// the response (rejectLinger at most) is skipped when MaxHandshakes other
// refusals linger already, so a flood holds at most that many goroutines
// more.
func (g *Gateway) refuseOverloaded(nc net.Conn) {
	g.edge.overHandshakes.Add(1)
	g.stats.rejected.Add(1)
	_ = nc.SetWriteDeadline(time.Now().Add(rejectLinger))
	_, err := io.WriteString(nc, overloadedResponse)
	if err == nil && g.edge.refusing.Add(1) <= int64(g.cfg.MaxHandshakes) {
		g.lingerClose(nc)
	}
	if err == nil {
		g.edge.refusing.Add(-1)
	}
	g.untrackHandshake(nc)
	_ = nc.Close()
}

// overloadedResponse answers a connection past MaxHandshakes.
const overloadedResponse = "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\n" +
	"Connection: close\r\nContent-Length: 20\r\n\r\ntoo many handshakes\n"

// readProxyHeader reads the PROXY protocol header that must begin nc and
// returns the client address it names (peer for a LOCAL header, e.g. the
// balancer's health check). With TrustedProxies set, only a trusted peer
// may send one.
func (g *Gateway) readProxyHeader(nc net.Conn, peer netip.AddrPort) (netip.AddrPort, error) {
	if len(g.edge.trusted) > 0 && !g.edge.trusted.Contains(peer.Addr()) {
		return peer, errors.New("gateway: PROXY header from an untrusted address")
	}
	h, err := proxyproto.Read(nc)
	if err != nil {
		return peer, err
	}
	if h.Local {
		return peer, nil
	}
	return h.Source, nil
}

func publicHandshake(h *wsconn.Handshake, remote string) *Handshake {
	out := &Handshake{Path: h.Path, RawQuery: h.RawQuery, RemoteAddr: remote, Protocols: h.Protocols, Subprotocol: h.Protocol}
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
