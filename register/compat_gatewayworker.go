package register

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/gwproto"
	"github.com/gatewayworker/gatewayworker/internal/metrics"
)

// Defaults of GatewayWorkerConfig.
const (
	// DefaultGatewayWorkerAuthTimeout is how long a connection on the
	// GatewayWorker listener may stay silent before its first line, as
	// GatewayWorker's own Register (10 s).
	DefaultGatewayWorkerAuthTimeout = 10 * time.Second
	// DefaultGatewayWorkerWriteTimeout bounds one write to a peer.
	DefaultGatewayWorkerWriteTimeout = 10 * time.Second
)

// GatewayWorkerConfig configures ServeGatewayWorker.
type GatewayWorkerConfig struct {
	// SecretKey is the secret_key every peer must send (GatewayWorker's
	// $register->secretKey). Empty: peers must send none (or "").
	SecretKey string
	// AuthTimeout closes a connection that sends no line in time
	// (DefaultGatewayWorkerAuthTimeout).
	AuthTimeout time.Duration
	// WriteTimeout bounds each write (DefaultGatewayWorkerWriteTimeout).
	WriteTimeout time.Duration
}

// ServeGatewayWorker serves GatewayWorker 4.x's register protocol (one JSON
// object per line) on lis until ctx is done, then closes lis and every
// connection. A BusinessWorker or GatewayClient sending
// {"event":"worker_connect","secret_key":...} gets
// {"event":"broadcast_addresses","addresses":[...]}: the GatewayWorker
// listener addresses (GatewayInfo.gatewayworker_addr) of the live gateways
// of the register cluster, and of PHP Gateways that sent gateway_connect
// to this listener. BusinessWorkers stay connected and get the list again
// whenever it changes. A wrong secret_key or an unknown event closes the
// connection. It may run beside Serve, on the same store.
func (r *Register) ServeGatewayWorker(ctx context.Context, lis net.Listener, cfg GatewayWorkerConfig) error {
	if r.store == nil {
		return fmt.Errorf("%w: Register not made by New", ErrInvalidConfig)
	}
	if cfg.AuthTimeout <= 0 {
		cfg.AuthTimeout = DefaultGatewayWorkerAuthTimeout
	}
	if cfg.WriteTimeout <= 0 {
		cfg.WriteTimeout = DefaultGatewayWorkerWriteTimeout
	}
	requests := prometheus.NewCounterVec(prometheus.CounterOpts{
		Namespace: metrics.Namespace, Subsystem: "register", Name: "gatewayworker_requests_total",
		Help: "Lines received on the GatewayWorker listener, by event (worker_connect, gateway_connect, ping) and result (ok, refused).",
	}, []string{"event", "result"})
	if r.cfg.Metrics != nil {
		if err := r.cfg.Metrics.Register(requests); err != nil {
			_ = lis.Close()
			return fmt.Errorf("register: gatewayworker metrics: %w", err)
		}
		defer r.cfg.Metrics.Unregister(requests)
	}
	s := &gwRegister{
		requests: requests,
		cfg:      cfg,
		log:      r.log.With("listener", "gatewayworker"),
		store:    r.store,
		cluster:  make(map[uint64]string),
		php:      make(map[*gwPeer]string),
		workers:  make(map[*gwPeer]struct{}),
		conns:    make(map[net.Conn]struct{}),
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := s.subscribe()
	if err != nil {
		s.log.Warn("gatewayworker register: watch failed, retrying", "err", err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { s.watch(ctx, sub) })
	wg.Go(func() {
		<-ctx.Done()
		_ = lis.Close()
		s.mu.Lock()
		for c := range s.conns {
			_ = c.Close()
		}
		s.mu.Unlock()
	})
	s.log.Info("gatewayworker register listening", "addr", lis.Addr().String())
	for {
		var nc net.Conn
		nc, err = lis.Accept()
		if err != nil {
			break
		}
		s.mu.Lock()
		s.conns[nc] = struct{}{}
		s.mu.Unlock()
		wg.Go(func() { s.serveConn(nc) })
	}
	cancel()
	wg.Wait()
	if parent.Err() != nil {
		return nil
	}
	return fmt.Errorf("register: gatewayworker listener: %w", err)
}

type gwRegister struct {
	requests *prometheus.CounterVec
	cfg      GatewayWorkerConfig
	log      *slog.Logger
	store    Store

	mu      sync.Mutex
	cluster map[uint64]string  // node id -> gatewayworker_addr
	php     map[*gwPeer]string // PHP Gateways connected here -> address
	workers map[*gwPeer]struct{}
	conns   map[net.Conn]struct{}
	last    []string // last list sent to workers
}

type gwPeer struct {
	nc  net.Conn
	wmu sync.Mutex
}

func (p *gwPeer) send(b []byte, timeout time.Duration) error {
	p.wmu.Lock()
	defer p.wmu.Unlock()
	_ = p.nc.SetWriteDeadline(time.Now().Add(timeout))
	_, err := p.nc.Write(b)
	return err
}

// subscribe watches the store and takes its snapshot as the list.
func (s *gwRegister) subscribe() (*Subscription, error) {
	sub, err := s.store.Watch(DefaultWatchBuffer)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	clear(s.cluster)
	for _, gw := range sub.Snapshot {
		if a := gw.GetGatewayworkerAddr(); a != "" {
			s.cluster[gw.GetNodeId()] = a
		}
	}
	s.mu.Unlock()
	return sub, nil
}

// watch follows the store (from sub, taken before the first connection
// was accepted, so the first answer already has the list) and
// re-broadcasts on every change.
func (s *gwRegister) watch(ctx context.Context, sub *Subscription) {
	for ctx.Err() == nil {
		if sub == nil {
			var err error
			if sub, err = s.subscribe(); err != nil {
				s.log.Warn("gatewayworker register: watch failed", "err", err)
				select {
				case <-ctx.Done():
				case <-time.After(time.Second):
				}
				continue
			}
		}
		s.broadcast()
	loop:
		for {
			select {
			case <-ctx.Done():
				sub.Stop()
				return
			case ch, ok := <-sub.C:
				if !ok {
					break loop // slow: subscribe again
				}
				s.mu.Lock()
				if a := ch.Gateway.GetGatewayworkerAddr(); ch.Kind == ChangeAdded && a != "" {
					s.cluster[ch.Gateway.GetNodeId()] = a
				} else {
					delete(s.cluster, ch.Gateway.GetNodeId())
				}
				s.mu.Unlock()
				s.broadcast()
			}
		}
		sub = nil
	}
}

// addressesLocked returns the sorted, unique compatibility addresses.
func (s *gwRegister) addressesLocked() []string {
	out := make([]string, 0, len(s.cluster)+len(s.php))
	for _, a := range s.cluster {
		out = append(out, a)
	}
	for _, a := range s.php {
		out = append(out, a)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// broadcast sends the list to every worker if it changed.
func (s *gwRegister) broadcast() {
	s.mu.Lock()
	addrs := s.addressesLocked()
	if slices.Equal(addrs, s.last) && s.last != nil {
		s.mu.Unlock()
		return
	}
	s.last = addrs
	peers := make([]*gwPeer, 0, len(s.workers))
	for p := range s.workers {
		peers = append(peers, p)
	}
	s.mu.Unlock()
	line := gwproto.AppendBroadcastAddresses(nil, addrs)
	for _, p := range peers {
		if err := p.send(line, s.cfg.WriteTimeout); err != nil {
			_ = p.nc.Close()
		}
	}
}

func (s *gwRegister) serveConn(nc net.Conn) {
	p := &gwPeer{nc: nc}
	log := s.log.With("remote", nc.RemoteAddr().String())
	defer func() {
		_ = nc.Close()
		s.mu.Lock()
		delete(s.conns, nc)
		delete(s.workers, p)
		_, wasGateway := s.php[p]
		delete(s.php, p)
		s.mu.Unlock()
		if wasGateway {
			s.broadcast()
		}
	}()
	br := bufio.NewReaderSize(nc, 4<<10)
	_ = nc.SetReadDeadline(time.Now().Add(s.cfg.AuthTimeout))
	for {
		line, err := readLine(br, gwproto.MaxRegisterLine)
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				log.Debug("gatewayworker register: connection ended", "err", err)
			}
			return
		}
		_ = nc.SetReadDeadline(time.Time{})
		line = bytes.TrimSpace(line)
		if len(line) == 0 {
			continue
		}
		req, err := gwproto.ParseRegisterRequest(line)
		if err != nil {
			s.requests.WithLabelValues("bad", "refused").Inc()
			log.Warn("gatewayworker register: bad request", "err", err)
			return
		}
		switch req.Event {
		case "ping":
			s.requests.WithLabelValues(req.Event, "ok").Inc()
			continue
		case "worker_connect", "gateway_connect":
		default:
			s.requests.WithLabelValues("unknown", "refused").Inc()
			log.Warn("gatewayworker register: unknown event", "event", req.Event)
			return
		}
		if req.SecretKey != s.cfg.SecretKey {
			s.requests.WithLabelValues(req.Event, "refused").Inc()
			log.Warn("gatewayworker register: secret_key does not match", "event", req.Event)
			return
		}
		if req.Event == "gateway_connect" {
			if _, _, err := gwproto.ParseAddr(req.Address); err != nil {
				s.requests.WithLabelValues(req.Event, "refused").Inc()
				log.Warn("gatewayworker register: bad gateway address", "err", err)
				return
			}
			s.requests.WithLabelValues(req.Event, "ok").Inc()
			s.mu.Lock()
			s.php[p] = req.Address
			s.mu.Unlock()
			s.broadcast()
			continue
		}
		s.requests.WithLabelValues(req.Event, "ok").Inc()
		s.mu.Lock()
		s.workers[p] = struct{}{}
		addrs := s.addressesLocked()
		s.mu.Unlock()
		if err := p.send(gwproto.AppendBroadcastAddresses(nil, addrs), s.cfg.WriteTimeout); err != nil {
			return
		}
	}
}

// readLine reads a line of at most max bytes (without its newline).
func readLine(br *bufio.Reader, max int) ([]byte, error) {
	var line []byte
	for {
		chunk, err := br.ReadSlice('\n')
		line = append(line, chunk...)
		if len(line) > max {
			return nil, fmt.Errorf("register: line over %d bytes", max)
		}
		if err == nil {
			return line[:len(line)-1], nil
		}
		if !errors.Is(err, bufio.ErrBufferFull) {
			return nil, err
		}
	}
}
