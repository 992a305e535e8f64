package gateway

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/gwproto"
	"github.com/gatewayworker/gatewayworker/internal/metrics"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Defaults of GatewayWorkerConfig.
const (
	// DefaultGatewayWorkerMaxPacket bounds a packet from a PHP peer.
	DefaultGatewayWorkerMaxPacket = 16 << 20
	// DefaultGatewayWorkerWorkerPing is how often a linked PHP
	// BusinessWorker gets a CMD_PING (GatewayWorker's
	// PERSISTENCE_CONNECTION_PING_INTERVAL, 25 s).
	DefaultGatewayWorkerWorkerPing = 25 * time.Second
	// DefaultGatewayWorkerWriteTimeout bounds one write to a PHP peer; a
	// BusinessWorker that reads nothing for that long is unlinked and its
	// unacknowledged events go to the other workers.
	DefaultGatewayWorkerWriteTimeout = 30 * time.Second
	// DefaultGatewayWorkerAuthTimeout bounds the wait for a peer's first
	// packet.
	DefaultGatewayWorkerAuthTimeout = 10 * time.Second
)

// GatewayWorkerConfig enables GatewayWorker 4.x's internal protocol on a
// second LAN listener (see docs/migrating-from-gatewayworker.md): PHP
// GatewayClient requests are applied as the same command from a Go push
// client, and a PHP BusinessWorker links as a worker.
type GatewayWorkerConfig struct {
	// Listener serves the protocol; nil disables it. Serve closes it.
	Listener net.Listener
	// Advertise is the IPv4 "ip:port" announced to the registers and
	// printed in the 20-hex client ids of this gateway (GatewayWorker's
	// lanIp:lanPort). Default: the listener's address, which must then be
	// IPv4 (not 0.0.0.0).
	Advertise string
	// SecretKey must be sent by every BusinessWorker and GatewayClient
	// (GatewayWorker's $secretKey); empty accepts requests without it, as
	// GatewayWorker does.
	SecretKey string
	// MaxPacket bounds one packet from a peer (DefaultGatewayWorkerMaxPacket);
	// a larger one closes that peer's connection.
	MaxPacket int
	// WorkerPing is the CMD_PING interval to linked BusinessWorkers
	// (DefaultGatewayWorkerWorkerPing).
	WorkerPing time.Duration
	// WriteTimeout bounds a write to a peer (DefaultGatewayWorkerWriteTimeout).
	WriteTimeout time.Duration
	// AuthTimeout bounds the wait for a peer's first packet
	// (DefaultGatewayWorkerAuthTimeout).
	AuthTimeout time.Duration
}

func (c GatewayWorkerConfig) withDefaults() (GatewayWorkerConfig, error) {
	if c.MaxPacket <= 0 {
		c.MaxPacket = DefaultGatewayWorkerMaxPacket
	}
	if c.WorkerPing <= 0 {
		c.WorkerPing = DefaultGatewayWorkerWorkerPing
	}
	if c.WriteTimeout <= 0 {
		c.WriteTimeout = DefaultGatewayWorkerWriteTimeout
	}
	if c.AuthTimeout <= 0 {
		c.AuthTimeout = DefaultGatewayWorkerAuthTimeout
	}
	if c.Listener == nil {
		return c, nil
	}
	if c.Advertise == "" {
		c.Advertise = c.Listener.Addr().String()
	}
	ip, _, err := gwproto.ParseAddr(c.Advertise)
	if err != nil || ip == 0 {
		return c, fmt.Errorf("%w: GatewayWorker address %q: an IPv4 ip:port other than 0.0.0.0 is needed (set Advertise)", ErrInvalidConfig, c.Advertise)
	}
	return c, nil
}

// maxAuthPacket bounds the packets of a peer that has not sent the secret
// yet (when one is set).
const maxAuthPacket = 4 << 10

// compat serves the GatewayWorker listener of a gateway.
type compat struct {
	g       *Gateway
	cfg     GatewayWorkerConfig
	log     *slog.Logger
	info    *pb.GatewayInfo
	ip      uint32 // advertised address, in client ids
	port    uint16
	gwPort  uint16 // public listener port (gateway_port)
	lis     net.Listener
	wg      sync.WaitGroup
	mu      sync.Mutex
	conns   map[net.Conn]struct{}
	counted map[*countingConn]struct{} // open connections, for ordering (compat_order.go)
	closing bool
	workers map[string]*peer // linked BusinessWorkers by linker id

	requests *prometheus.CounterVec // by command
	errors   *prometheus.CounterVec // by reason
}

// startCompat starts the GatewayWorker listener if one is configured and
// records its address in info (before info is announced). It returns nil
// when disabled. Called by Serve.
func (g *Gateway) startCompat(info *pb.GatewayInfo) (*compat, error) {
	cfg, err := g.cfg.GatewayWorker.withDefaults()
	if err != nil {
		if cfg.Listener != nil {
			_ = cfg.Listener.Close() // Serve owns it
		}
		return nil, err
	}
	if cfg.Listener == nil {
		return nil, nil
	}
	ip, port, _ := gwproto.ParseAddr(cfg.Advertise)
	info.GatewayworkerAddr = cfg.Advertise
	x := &compat{
		g: g, cfg: cfg, info: info, ip: ip, port: port, lis: cfg.Listener,
		log:     g.log.With("listener", "gatewayworker"),
		conns:   make(map[net.Conn]struct{}),
		counted: make(map[*countingConn]struct{}),
	}
	x.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "gateway", Name: "gatewayworker_requests_total",
		Help: "Packets received on the GatewayWorker listener, by command name.",
	}, []string{"cmd"})
	x.errors = prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "gateway", Name: "gatewayworker_errors_total",
		Help: "GatewayWorker peers closed for bad input (read), a wrong secret_key (auth) or a failed write (write).",
	}, []string{"reason"})
	if g.cfg.Metrics != nil {
		for _, c := range []prometheus.Collector{x.requests, x.errors} {
			if err := g.cfg.Metrics.Register(c); err != nil {
				return nil, fmt.Errorf("gateway: gatewayworker metrics: %w", err)
			}
		}
	}
	if ap, err := netip.ParseAddrPort(info.GetPublicAddr()); err == nil {
		x.gwPort = ap.Port()
	}
	x.wg.Go(x.acceptLoop)
	x.log.Info("gatewayworker listener serving", "addr", cfg.Listener.Addr().String(), "advertise", cfg.Advertise)
	return x, nil
}

// stop closes the listener and the GatewayClient connections, gives the
// BusinessWorker links (told to end by g.quit) grpcStopTimeout to write
// what they hold, then closes the rest and waits. Called by Serve after
// close(g.quit).
func (x *compat) stop() {
	if x == nil {
		return
	}
	x.mu.Lock()
	x.closing = true
	_ = x.lis.Close()
	workers := make(map[net.Conn]bool, len(x.workers))
	for _, p := range x.workers {
		workers[p.cc.Conn] = true
	}
	for nc := range x.conns {
		if !workers[nc] {
			_ = nc.Close()
		}
	}
	x.mu.Unlock()
	done := make(chan struct{})
	go func() { x.wg.Wait(); close(done) }()
	select {
	case <-done:
		return
	case <-time.After(grpcStopTimeout):
	}
	x.mu.Lock()
	for nc := range x.conns {
		_ = nc.Close()
	}
	x.mu.Unlock()
	<-done
}

func (x *compat) acceptLoop() {
	for {
		raw, err := x.lis.Accept()
		if err != nil {
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return
		}
		cc := &countingConn{Conn: raw}
		x.mu.Lock()
		if x.closing {
			x.mu.Unlock()
			_ = raw.Close()
			return
		}
		marks := x.orderMarksLocked()
		x.conns[raw] = struct{}{}
		x.counted[cc] = struct{}{}
		x.mu.Unlock()
		x.wg.Go(func() {
			defer func() {
				cc.done.Store(true)
				_ = raw.Close()
				x.mu.Lock()
				delete(x.conns, raw)
				delete(x.counted, cc)
				x.mu.Unlock()
			}()
			awaitOrder(marks)
			x.serveConn(cc)
		})
	}
}

// peer is one PHP connection: a GatewayClient, or a BusinessWorker once it
// sent CMD_WORKER_CONNECT.
type peer struct {
	x      *compat
	nc     net.Conn
	cc     *countingConn
	log    *slog.Logger
	cm     commander
	authed bool

	wmu sync.Mutex // serialises writes to nc
	out []byte     // scratch for replies
}

func (p *peer) write(b []byte) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.nc.SetWriteDeadline(time.Now().Add(p.x.cfg.WriteTimeout))
	_, err := p.nc.Write(b)
	return err
}

func (x *compat) serveConn(cc *countingConn) {
	nc := net.Conn(cc)
	p := &peer{x: x, nc: nc, cc: cc, log: x.log.With("remote", nc.RemoteAddr().String()), authed: x.cfg.SecretKey == ""}
	p.cm.g = x.g
	r := gwproto.NewReader(nc, x.cfg.MaxPacket)
	if !p.authed {
		// Nothing large before the secret: an auth packet is tiny.
		r.SetMaxPacket(maxAuthPacket)
	}
	_ = nc.SetReadDeadline(time.Now().Add(x.cfg.AuthTimeout))
	first := true
	for {
		pkt, err := r.ReadPacket()
		if err != nil {
			if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
				x.errors.WithLabelValues("read").Inc()
				p.log.Warn("gatewayworker peer: bad input, closing", "err", err)
			}
			return
		}
		if first {
			_ = nc.SetReadDeadline(time.Time{})
			first = false
		}
		applied := int64(pkt.Len())
		switch pkt.Cmd {
		case gwproto.CmdWorkerConnect:
			var hello struct {
				WorkerKey string `json:"worker_key"`
				SecretKey string `json:"secret_key"`
			}
			if err := json.Unmarshal(pkt.Body, &hello); err != nil || hello.SecretKey != x.cfg.SecretKey {
				x.errors.WithLabelValues("auth").Inc()
				p.log.Warn("gatewayworker peer: BusinessWorker refused: bad or wrong secret_key")
				return
			}
			p.authed = true
			r.SetMaxPacket(x.cfg.MaxPacket)
			cc.applied.Add(applied)
			x.serveWorker(p, r, hello.WorkerKey)
			return
		case gwproto.CmdGatewayClientConnect:
			var hello struct {
				SecretKey string `json:"secret_key"`
			}
			if err := json.Unmarshal(pkt.Body, &hello); err != nil || hello.SecretKey != x.cfg.SecretKey {
				x.errors.WithLabelValues("auth").Inc()
				p.log.Warn("gatewayworker peer: GatewayClient refused: bad or wrong secret_key")
				return
			}
			p.authed = true
			r.SetMaxPacket(x.cfg.MaxPacket)
			cc.applied.Add(applied)
			continue
		}
		if !p.authed {
			x.errors.WithLabelValues("auth").Inc()
			p.log.Warn("gatewayworker peer: unauthorized request", "cmd", pkt.Cmd)
			return
		}
		if err := p.apply(&pkt); err != nil {
			p.log.Warn("gatewayworker peer: closing", "err", err)
			return
		}
		cc.applied.Add(applied)
	}
}

// seqOf returns the connection sequence of a GatewayWorker connection id:
// the id is the low 32 bits of the sequence, and the latest sequence with
// those bits is meant.
func (x *compat) seqOf(id uint32) uint64 {
	cur := x.g.seq.Load()
	s := cur&^0xffffffff | uint64(id)
	if s > cur && s >= 1<<32 {
		s -= 1 << 32
	}
	return s
}

// ClientIDToGatewayWorker returns the 20-hex GatewayWorker client id of one
// of this gateway's 32-hex client ids (as PHP workers see it), or an error
// if the GatewayWorker listener is off or clientID is not of this gateway
// (ErrClientNotFound) or not a client id (ErrBadCommand).
func (g *Gateway) ClientIDToGatewayWorker(clientID string) (string, error) {
	id, err := clientid.Parse(clientID)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	conn := id.Conn
	cfg, err := g.cfg.GatewayWorker.withDefaults()
	if err != nil || cfg.Listener == nil || id.Node != g.nodeID {
		return "", fmt.Errorf("%w: not a client of this gateway's GatewayWorker listener", ErrClientNotFound)
	}
	ip, port, _ := gwproto.ParseAddr(cfg.Advertise)
	return gwproto.ClientID{IP: ip, Port: port, ConnectionID: uint32(conn)}.String(), nil
}

// ClientIDFromGatewayWorker returns the 32-hex Go client id of a 20-hex
// GatewayWorker client id that names this gateway's GatewayWorker address.
// The connection need not be online.
func (g *Gateway) ClientIDFromGatewayWorker(id string) (clientID string, err error) {
	cid, err := gwproto.ParseClientID(id)
	if err != nil {
		return "", fmt.Errorf("%w: %w", ErrBadCommand, err)
	}
	cfg, err := g.cfg.GatewayWorker.withDefaults()
	if err != nil || cfg.Listener == nil {
		return "", fmt.Errorf("%w: GatewayWorker listener off", ErrClientNotFound)
	}
	if ip, port, _ := gwproto.ParseAddr(cfg.Advertise); ip != cid.IP || port != cid.Port {
		return "", fmt.Errorf("%w: %s is not this gateway (%s)", ErrClientNotFound, cid.Addr(), cfg.Advertise)
	}
	x := compat{g: g}
	return clientid.ID{Node: g.nodeID, Conn: x.seqOf(cid.ConnectionID)}.String(), nil
}

// body returns a packet's body as the bytes to send to a client: scalar
// bodies as they are, serialized ones as PHP's (string) cast; ok is false
// for null or an array.
func body(pkt *gwproto.Packet) ([]byte, bool) {
	if pkt.Flag&gwproto.FlagBodyIsScalar != 0 {
		return pkt.Body, true
	}
	v, err := gwproto.Unmarshal(pkt.Body)
	if err != nil {
		return nil, false
	}
	s, ok := gwproto.ScalarString(v)
	return []byte(s), ok
}

// message returns the WebSocket message to send for a send command: a body
// sent with $raw = true is already a WebSocket frame, which is unwrapped.
func message(pkt *gwproto.Packet) (data []byte, binary, ok bool) {
	data, ok = body(pkt)
	if !ok {
		return nil, false, false
	}
	if pkt.Flag&gwproto.FlagNotCallEncode != 0 {
		if payload, op, ok := unwrapFrame(data); ok {
			return payload, op == opBinary, true
		}
	}
	return data, false, true
}

// WebSocket opcodes of unwrapFrame.
const (
	opText   = 1
	opBinary = 2
)

// unwrapFrame parses one whole unmasked, final WebSocket text or binary
// frame.
func unwrapFrame(b []byte) (payload []byte, op byte, ok bool) {
	if len(b) < 2 || b[0]&0x80 == 0 || b[1]&0x80 != 0 {
		return nil, 0, false
	}
	op = b[0] & 0x0f
	if op != opText && op != opBinary {
		return nil, 0, false
	}
	n, h := uint64(b[1]&0x7f), 2
	switch n {
	case 126:
		if len(b) < 4 {
			return nil, 0, false
		}
		n, h = uint64(b[2])<<8|uint64(b[3]), 4
	case 127:
		if len(b) < 10 {
			return nil, 0, false
		}
		n = 0
		for _, c := range b[2:10] {
			n = n<<8 | uint64(c)
		}
		h = 10
	}
	if uint64(len(b)-h) != n {
		return nil, 0, false
	}
	return b[h:], op, true
}

// jsonStrings decodes a JSON list (or object: its values) of strings and
// numbers, as PHP's json_encode writes uids and group names.
func jsonStrings(b []byte) ([]string, error) {
	var raw json.RawMessage = b
	var list []json.RawMessage
	if err := json.Unmarshal(raw, &list); err != nil {
		var obj map[string]json.RawMessage
		if err2 := json.Unmarshal(raw, &obj); err2 != nil {
			return nil, fmt.Errorf("%w: want a JSON list: %v", ErrBadCommand, err)
		}
		for _, v := range obj {
			list = append(list, v)
		}
	}
	out := make([]string, 0, len(list))
	for _, v := range list {
		s, err := jsonScalar(v)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}

func jsonScalar(v json.RawMessage) (string, error) {
	var s string
	if err := json.Unmarshal(v, &s); err == nil {
		return s, nil
	}
	var n json.Number
	if err := json.Unmarshal(v, &n); err == nil {
		return n.String(), nil
	}
	return "", fmt.Errorf("%w: want a string or number, got %.40s", ErrBadCommand, v)
}

// jsonConnIDs decodes connection ids: a JSON list of numbers, or an object
// {"id": id, ...} as PHP writes [id => id]; null or absent is none.
func jsonConnIDs(b json.RawMessage) ([]uint32, error) {
	if len(b) == 0 || string(b) == "null" {
		return nil, nil
	}
	var vals []json.RawMessage
	var list []json.RawMessage
	if err := json.Unmarshal(b, &list); err == nil {
		vals = list
	} else {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal(b, &obj); err != nil {
			return nil, fmt.Errorf("%w: connection ids: %v", ErrBadCommand, err)
		}
		for k := range obj {
			vals = append(vals, json.RawMessage(k))
		}
	}
	out := make([]uint32, 0, len(vals))
	for _, v := range vals {
		s, err := jsonScalar(v)
		if err != nil {
			return nil, err
		}
		n, err := strconv.ParseUint(s, 10, 32)
		if err != nil {
			return nil, fmt.Errorf("%w: connection id %q", ErrBadCommand, s)
		}
		out = append(out, uint32(n))
	}
	return out, nil
}
