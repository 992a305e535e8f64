package gateway

import (
	"context"
	"errors"
	"io"
	"net"
	"net/netip"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc/metadata"

	"github.com/gatewayworker/gatewayworker/internal/gwproto"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// A PHP BusinessWorker links through the same code as a Go worker: its
// connection is served by linkService.Link over phpStream, an adapter that
// turns the link's events into GatewayProtocol packets and acknowledges
// each event once its packets are written to the socket (GatewayWorker has
// no acknowledgements). What the link code needs from the adapter is only
// the pb.Gateway_LinkServer contract: Recv yields Hello, then acks, then
// io.EOF when the socket is gone; Send writes or fails.
//
// Delivery to a PHP worker is therefore: events not yet written when the
// link ends go to the other workers (as for a Go worker); events written to
// the socket count as handled, so those the PHP process had not run when it
// died are lost (GatewayWorker's own guarantee).

// serveWorker serves a BusinessWorker that sent CMD_WORKER_CONNECT until
// its connection or the gateway ends.
func (x *compat) serveWorker(p *peer, r *gwproto.Reader, workerKey string) {
	host, _, _ := net.SplitHostPort(p.nc.RemoteAddr().String())
	id := "gatewayworker:" + host + ":" + workerKey
	p.log = p.log.With("worker_key", workerKey)
	x.replaceWorker(id, p)
	defer x.dropWorker(id, p)

	ctx, cancel := context.WithCancel(context.Background())
	s := &phpStream{
		x:     x,
		p:     p,
		ctx:   ctx,
		hello: &pb.Hello{LinkerId: id, Name: "php " + workerKey, Events: true},
		ack:   make(chan struct{}, 1),
		addrs: make(map[uint64]phpClientAddr),
	}
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		defer cancel()
		for {
			pkt, err := r.ReadPacket()
			if err != nil {
				if !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
					x.errors.WithLabelValues("read").Inc()
					p.log.Warn("gatewayworker BusinessWorker: bad input, unlinking", "err", err)
				}
				return
			}
			n := int64(pkt.Len())
			switch pkt.Cmd {
			case gwproto.CmdWorkerConnect, gwproto.CmdGatewayClientConnect:
			default:
				if err := p.apply(&pkt); err != nil {
					p.log.Warn("gatewayworker BusinessWorker: unlinking", "err", err)
					return
				}
			}
			p.cc.applied.Add(n)
		}
	}()
	pingDone := make(chan struct{})
	go func() {
		defer close(pingDone)
		t := time.NewTicker(x.cfg.WorkerPing)
		defer t.Stop()
		ping := gwproto.AppendPacket(nil, &gwproto.Packet{Header: gwproto.Header{Cmd: gwproto.CmdPing, Flag: gwproto.FlagBodyIsScalar}})
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if err := p.write(ping); err != nil {
					_ = p.nc.Close()
					return
				}
			}
		}
	}()
	p.log.Info("gatewayworker BusinessWorker linked")
	_ = (&linkService{g: x.g, info: x.info}).Link(s)
	_ = p.nc.Close()
	cancel()
	<-readDone
	<-pingDone
	p.log.Info("gatewayworker BusinessWorker unlinked")
}

// replaceWorker records p as the worker id; an older connection with the
// same id (same host and worker name:id) is closed, as GatewayWorker does.
func (x *compat) replaceWorker(id string, p *peer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.workers == nil {
		x.workers = make(map[string]*peer)
	}
	if old := x.workers[id]; old != nil {
		x.log.Warn("gatewayworker BusinessWorker: same worker key connected again, closing the old link", "linker", id)
		_ = old.nc.Close()
	}
	x.workers[id] = p
}

func (x *compat) dropWorker(id string, p *peer) {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.workers[id] == p {
		delete(x.workers, id)
	}
}

type phpClientAddr struct {
	ip   uint32
	port uint16
}

// phpStream adapts a BusinessWorker connection to pb.Gateway_LinkServer.
type phpStream struct {
	x     *compat
	p     *peer
	ctx   context.Context
	hello *pb.Hello
	sent  bool // Hello returned by Recv

	acked atomic.Uint64 // seq of the last event written
	ack   chan struct{} // capacity 1: acked moved

	// Owned by Send (the link's send loop).
	addrs    map[uint64]phpClientAddr
	buf      []byte
	sessions sessionCache
}

var _ pb.Gateway_LinkServer = (*phpStream)(nil)

func (s *phpStream) Recv() (*pb.LinkRequest, error) {
	if !s.sent {
		s.sent = true
		return &pb.LinkRequest{Hello: s.hello}, nil
	}
	select {
	case <-s.ack:
		return &pb.LinkRequest{Ack: s.acked.Load()}, nil
	case <-s.ctx.Done():
		return nil, io.EOF
	}
}

// Send writes the events of resp as GatewayProtocol packets; replies,
// Welcome and worker sets have no GatewayWorker form and are dropped.
func (s *phpStream) Send(resp *pb.LinkResponse) error {
	evs := resp.GetEvents()
	if len(evs) == 0 {
		return nil
	}
	s.buf = s.buf[:0]
	for _, ev := range evs {
		s.buf = s.appendEvent(s.buf, ev)
	}
	if err := s.p.write(s.buf); err != nil {
		s.x.errors.WithLabelValues("write").Inc()
		return err
	}
	if cap(s.buf) > 1<<20 {
		s.buf = nil
	}
	s.acked.Store(evs[len(evs)-1].GetSeq())
	select {
	case s.ack <- struct{}{}:
	default:
	}
	return nil
}

// appendEvent appends the packets of one event: Connect is CMD_ON_CONNECT
// then CMD_ON_WEBSOCKET_CONNECT with the handshake as PHP's
// ['get' => ..., 'server' => ..., 'cookie' => ...].
func (s *phpStream) appendEvent(dst []byte, ev *pb.Event) []byte {
	x := s.x
	addr, ok := s.addrs[ev.GetConn()]
	if c := ev.GetConnect(); c != nil {
		addr = parsePHPClientAddr(c.GetRemoteAddr())
		s.addrs[ev.GetConn()] = addr
	} else if !ok {
		if c := x.g.hub.get(ev.GetConn()); c != nil {
			addr = parsePHPClientAddr(c.remoteAddr())
		}
	}
	pkt := gwproto.Packet{
		Header: gwproto.Header{
			LocalIP: x.ip, LocalPort: x.port,
			ClientIP: addr.ip, ClientPort: addr.port,
			ConnectionID: uint32(ev.GetConn()),
			Flag:         gwproto.FlagBodyIsScalar,
			GatewayPort:  x.gwPort,
		},
		Ext: s.sessions.encode(ev.GetSession()),
	}
	switch k := ev.GetKind().(type) {
	case *pb.Event_Connect:
		pkt.Cmd = gwproto.CmdOnConnect
		dst = gwproto.AppendPacket(dst, &pkt)
		pkt.Cmd = gwproto.CmdOnWebSocketConnect
		pkt.Flag = 0
		pkt.Body = gwproto.MustMarshal(x.handshakeData(k.Connect, addr))
	case *pb.Event_Message:
		pkt.Cmd = gwproto.CmdOnMessage
		pkt.Body = k.Message.GetData()
	case *pb.Event_Close:
		pkt.Cmd = gwproto.CmdOnClose
		delete(s.addrs, ev.GetConn())
	default:
		return dst
	}
	return gwproto.AppendPacket(dst, &pkt)
}

func parsePHPClientAddr(s string) phpClientAddr {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return phpClientAddr{}
	}
	return phpClientAddr{ip: gwproto.IPv4(ap.Addr()), port: ap.Port()}
}

// handshakeData builds what GatewayWorker passes to onWebSocketConnect.
func (x *compat) handshakeData(c *pb.Connect, addr phpClientAddr) *gwproto.Array {
	get := gwproto.NewArray()
	if q, err := url.ParseQuery(c.GetQuery()); err == nil {
		for _, pair := range strings.Split(c.GetQuery(), "&") {
			k, _, _ := strings.Cut(pair, "=")
			if k, err := url.QueryUnescape(k); err == nil && len(q[k]) > 0 {
				if _, dup := get.Get(gwproto.StrKey(k)); !dup {
					get.Set(gwproto.StrKey(k), q[k][len(q[k])-1])
				}
			}
		}
	}
	uri := c.GetPath()
	if c.GetQuery() != "" {
		uri += "?" + c.GetQuery()
	}
	server := gwproto.NewArray()
	server.Set(gwproto.StrKey("QUERY_STRING"), c.GetQuery())
	server.Set(gwproto.StrKey("REQUEST_METHOD"), "GET")
	server.Set(gwproto.StrKey("REQUEST_URI"), uri)
	server.Set(gwproto.StrKey("SERVER_PROTOCOL"), "HTTP/1.1")
	host := ""
	cookie := gwproto.NewArray()
	var contentType gwproto.Value
	for _, h := range c.GetHeaders() {
		switch strings.ToLower(h.GetName()) {
		case "host":
			host = h.GetValue()
			if hh, _, err := net.SplitHostPort(host); err == nil {
				host = hh
			}
		case "content-type":
			contentType = h.GetValue()
		case "cookie":
			for _, part := range strings.Split(h.GetValue(), ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
				if k == "" {
					continue
				}
				if uv, err := url.QueryUnescape(v); err == nil {
					v = uv
				}
				cookie.Set(gwproto.StrKey(k), v)
			}
		}
	}
	server.Set(gwproto.StrKey("SERVER_NAME"), host)
	server.Set(gwproto.StrKey("CONTENT_TYPE"), contentType)
	remoteIP, _, _ := strings.Cut(gwproto.FormatAddr(addr.ip, 0), ":")
	server.Set(gwproto.StrKey("REMOTE_ADDR"), remoteIP)
	server.Set(gwproto.StrKey("REMOTE_PORT"), int64(addr.port))
	server.Set(gwproto.StrKey("SERVER_PORT"), int64(x.gwPort))
	for _, h := range c.GetHeaders() {
		key := "HTTP_" + strings.ReplaceAll(strings.ToUpper(h.GetName()), "-", "_")
		server.Set(gwproto.StrKey(key), h.GetValue())
	}
	d := gwproto.NewArray()
	d.Set(gwproto.StrKey("get"), get)
	d.Set(gwproto.StrKey("server"), server)
	d.Set(gwproto.StrKey("cookie"), cookie)
	return d
}

func (s *phpStream) Context() context.Context     { return s.ctx }
func (s *phpStream) SetHeader(metadata.MD) error  { return nil }
func (s *phpStream) SendHeader(metadata.MD) error { return nil }
func (s *phpStream) SetTrailer(metadata.MD)       {}
func (s *phpStream) SendMsg(any) error {
	return errors.New("gateway: gatewayworker link: SendMsg unsupported")
}
func (s *phpStream) RecvMsg(any) error {
	return errors.New("gateway: gatewayworker link: RecvMsg unsupported")
}
