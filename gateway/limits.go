package gateway

import (
	"fmt"
	"github.com/gatewayworker/gatewayworker/internal/errtext"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"

	"github.com/gatewayworker/gatewayworker/internal/clientaddr"
	"github.com/gatewayworker/gatewayworker/internal/iplimit"
)

// Limits of the public listener per client address, and the real client
// address behind a load balancer.
//
// A handshake finds the client's address (the socket's peer; the source of
// the PROXY header with Config.ProxyProtocol; the X-Forwarded-For client of
// a trusted proxy), then admits it through the per-address limiter and
// MaxConnections before the OnHandshake hook. A client whose address is not
// its socket's peer, or that the limiter counts, has an entry in
// edge.addrs (by connection sequence) until finish releases it: a client
// without either keeps nothing here (idle memory).

// Causes of a handshake refusal by a limit, as counted (metric label).
const (
	refusedMaxHandshakes    = "max_handshakes"
	refusedMaxConnections   = "max_connections"
	refusedConnectionsPerIP = "connections_per_ip"
	refusedRatePerIP        = "rate_per_ip"
	refusedProxyHeader      = "proxy_header"
)

// edgeState is the gateway's per-address state.
type edgeState struct {
	limiter *iplimit.Limiter // nil without per-address limits
	trusted clientaddr.Trusted
	// handshakes in progress (MaxHandshakes), and refusals past it
	// lingering (refuseOverloaded).
	handshakes, refusing atomic.Int64
	// refusals by cause.
	overHandshakes, perIPConns, perIPRate, proxyHeader atomic.Uint64

	mu    sync.Mutex
	addrs map[uint64]clientAddr
}

// clientAddr is a client's address as the handshake found it.
type clientAddr struct {
	addr    netip.AddrPort
	counted bool // admitted by the limiter: release on finish
}

func (g *Gateway) initEdge() error {
	l, err := iplimit.New(iplimit.Config{
		MaxConnections: g.cfg.MaxConnectionsPerIP,
		Rate:           g.cfg.HandshakeRatePerIP,
		Burst:          g.cfg.HandshakeBurstPerIP,
	})
	if err != nil {
		return fmt.Errorf("%w: %s", ErrInvalidConfig, errtext.Strip(err))
	}
	g.edge.limiter = l
	g.edge.trusted = clientaddr.Trusted(g.cfg.TrustedProxies)
	g.edge.addrs = make(map[uint64]clientAddr)
	return nil
}

// peerAddr is nc's remote address as an AddrPort (invalid if not IP).
func peerAddr(nc net.Conn) netip.AddrPort {
	switch a := nc.RemoteAddr().(type) {
	case *net.TCPAddr:
		ap := a.AddrPort()
		return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
	case nil:
		return netip.AddrPort{}
	default:
		ap, _ := netip.ParseAddrPort(a.String())
		return ap
	}
}

// admitAddr runs the per-address limits for a client from addr: "" if
// admitted (and counted when the limiter is on), else the refusal cause.
func (g *Gateway) admitAddr(addr netip.AddrPort) (cause string, counted bool) {
	if g.edge.limiter == nil || !addr.IsValid() {
		return "", false
	}
	switch g.edge.limiter.Acquire(addr.Addr()) {
	case iplimit.TooManyConnections:
		g.edge.perIPConns.Add(1)
		return refusedConnectionsPerIP, false
	case iplimit.RateLimited:
		g.edge.perIPRate.Add(1)
		return refusedRatePerIP, false
	}
	return "", true
}

// keepAddr records the address of the attached client c when it needs
// keeping: it is not the socket's peer, or the limiter counts it.
func (g *Gateway) keepAddr(c *conn, ca clientAddr, proxied bool) {
	if !proxied && !ca.counted {
		return
	}
	g.edge.mu.Lock()
	g.edge.addrs[c.seq] = ca
	g.edge.mu.Unlock()
}

// releaseAddr forgets c's address and releases its count; finish calls it.
func (g *Gateway) releaseAddr(c *conn) {
	g.edge.mu.Lock()
	ca, ok := g.edge.addrs[c.seq]
	if ok {
		delete(g.edge.addrs, c.seq)
	}
	g.edge.mu.Unlock()
	if ok && ca.counted {
		g.edge.limiter.Release(ca.addr.Addr())
	}
}

// keptAddr is c's recorded address, if any.
func (g *Gateway) keptAddr(c *conn) (netip.AddrPort, bool) {
	g.edge.mu.Lock()
	defer g.edge.mu.Unlock()
	ca, ok := g.edge.addrs[c.seq]
	return ca.addr, ok
}
