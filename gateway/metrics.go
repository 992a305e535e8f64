package gateway

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/metrics"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// gatewayMetrics are the counters the gateway keeps for Prometheus on top of
// Stats. The hot paths only add to atomics (messages received: one add per
// message; sends: one add per command, not per recipient); the collector
// reads them at scrape time.
type gatewayMetrics struct {
	msgsIn, bytesIn atomic.Uint64                                 // client messages read, payload bytes
	_               [48]byte                                      // readers and commanders touch different lines
	msgsOut         atomic.Uint64                                 // messages queued to clients by send commands
	bytesOut        atomic.Uint64                                 // their payload bytes
	fanout          [pb.Send_TARGET_GROUPS + 1]*metrics.Histogram // by target; 0 unused
	grpc            *metrics.GRPCErrors

	// Compression (compression.go): messages compressed (once per send
	// command), and the compressed deliveries with their frame bytes as
	// sent and as they would have been uncompressed.
	compressions, compressedMsgs        atomic.Uint64
	compressedBytes, compressedRawBytes atomic.Uint64
}

// targetLabel names a Send target in the fan-out histogram ("": none).
func targetLabel(t int) string {
	switch pb.Send_Target(t) {
	case pb.Send_TARGET_ALL:
		return "all"
	case pb.Send_TARGET_CLIENTS:
		return "clients"
	case pb.Send_TARGET_UIDS:
		return "uids"
	case pb.Send_TARGET_GROUPS:
		return "groups"
	}
	return ""
}

// fanoutBounds are the bucket bounds of the fan-out histogram (recipients).
func fanoutBounds() []uint64 {
	return []uint64{0, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000, 20000, 50000, 100000}
}

// initMetrics creates the counters and, when Config.Metrics is set,
// registers the gateway's collector there.
func (g *Gateway) initMetrics() error {
	m := &g.metrics
	for t := range m.fanout {
		if targetLabel(t) != "" {
			m.fanout[t] = metrics.NewHistogram(fanoutBounds()...)
		}
	}
	m.grpc = metrics.NewGRPCErrors(metrics.Namespace+"_gateway_grpc_errors_total",
		"Calls of the internal gRPC service (worker and push client links) that ended with an error, by status code.")
	if err := metrics.Register(g.cfg.Metrics, newCollector(g)); err != nil {
		return fmt.Errorf("%w: Metrics: %w", ErrInvalidConfig, err)
	}
	if err := metrics.Register(g.cfg.Metrics, newCompressionCollector(g)); err != nil {
		return fmt.Errorf("%w: Metrics: %w", ErrInvalidConfig, err)
	}
	return nil
}

// received counts a message read from a client (conn.go).
func (m *gatewayMetrics) received(size int) {
	m.msgsIn.Add(1)
	m.bytesIn.Add(uint64(size))
}

// countSend records the deliveries of send command s and resets the tally.
func (cm *commander) countSend(s *pb.Send) {
	n := uint64(cm.delivered)
	cm.delivered = 0
	m := &cm.g.metrics
	m.msgsOut.Add(n)
	m.bytesOut.Add(n * uint64(len(s.GetData())))
	if t := int(s.GetTarget()); t >= 0 && t < len(m.fanout) && m.fanout[t] != nil {
		m.fanout[t].Observe(n)
	}
}

// queuedBytes returns the bytes waiting in client write queues (being
// written included). It locks each client briefly: scrape time only.
func (g *Gateway) queuedBytes() int {
	n := 0
	g.hub.forEach(func(c *conn) {
		c.mu.Lock()
		n += c.q.Bytes() + int(c.inflight)
		c.mu.Unlock()
	})
	return n
}

// Ready reports whether the gateway can serve clients: Serve is running,
// the gateway is not draining and at least one worker is linked (without
// a worker, client messages are dropped). It returns an error wrapping
// ErrNotReady that says why not. For readiness probes (/readyz).
func (g *Gateway) Ready() error {
	switch {
	case !g.serving.Load():
		return fmt.Errorf("%w: not serving", ErrNotReady)
	case g.draining.Load():
		return fmt.Errorf("%w: draining", ErrNotReady)
	case len(g.router.workers.Load().links) == 0:
		return fmt.Errorf("%w: no worker linked", ErrNotReady)
	}
	return nil
}

// collector exports Stats and gatewayMetrics to Prometheus.
type collector struct {
	g *Gateway

	connections, groups, uids, links, announced, ready, queued *prometheus.Desc
	handshakes, msgsIn, bytesIn, msgsOut, bytesOut, fanout     *prometheus.Desc
	slow, heartbeat, rateLimited, protocol, frameTimeout       *prometheus.Desc
	dropped, redelivered, linksRejected                        *prometheus.Desc
	paused, noWorker, tooBig, linkProtocol, eventsHeld         *prometheus.Desc
	refusals                                                   *prometheus.Desc
}

var _ prometheus.Collector = (*collector)(nil)

func newCollector(g *Gateway) *collector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(metrics.Namespace+"_gateway_"+name, help, labels, nil)
	}
	return &collector{
		g:             g,
		connections:   d("connections", "Client WebSocket connections open (upgraded, not yet closed)."),
		groups:        d("groups", "Non-empty groups."),
		uids:          d("uids", "Uids bound to at least one client."),
		links:         d("links", "Links from workers (kind=worker) and push clients (kind=push).", "kind"),
		announced:     d("announced", "1 while a register holds the gateway's lease, else 0."),
		ready:         d("ready", "1 while the gateway is ready (serving, not draining, a worker linked), else 0."),
		queued:        d("queued_bytes", "Bytes waiting in client write queues."),
		handshakes:    d("handshakes_total", "WebSocket handshakes by result: accepted, rejected (refused or failed), over_limit (refused with 503 past max connections).", "result"),
		msgsIn:        d("messages_received_total", "Messages received from clients."),
		bytesIn:       d("received_bytes_total", "Payload bytes of the messages received from clients."),
		msgsOut:       d("messages_sent_total", "Messages queued to clients by send commands (one per recipient)."),
		bytesOut:      d("sent_bytes_total", "Payload bytes of the messages queued to clients (per recipient)."),
		fanout:        d("send_fanout", "Clients reached by one send command, by target (all, clients, uids, groups).", "target"),
		slow:          d("slow_consumer_closes_total", "Clients closed with 4000 because their queue passed max pending or a write timed out."),
		heartbeat:     d("heartbeat_timeout_closes_total", "Clients closed with 4001 after unanswered pings."),
		rateLimited:   d("rate_limited_closes_total", "Clients closed with 4002 for sending over the message rate."),
		protocol:      d("protocol_error_closes_total", "Clients closed for breaking RFC 6455 or a size limit (1002, 1007, 1009)."),
		frameTimeout:  d("frame_timeout_closes_total", "Clients closed with 1008: a started frame did not arrive within the frame timeout."),
		dropped:       d("events_dropped_total", "Client events given up: held while no worker was linked, past the no-worker timeout (reason=no_worker).", "reason"),
		redelivered:   d("events_redelivered_total", "Unacknowledged events handed to another worker after a link broke."),
		linksRejected: d("links_rejected_total", "Internal calls refused for a missing or wrong cluster secret."),
		paused:        d("client_reads_paused_total", "Times a client's socket stopped being read because the worker link its events take was full (flow control)."),
		noWorker:      d("no_worker_closes_total", "Clients closed with 1013 because no worker linked within the no-worker timeout."),
		tooBig:        d("too_big_for_link_closes_total", "Clients closed with 1009 because a message with their session would not fit the link to the workers."),
		linkProtocol:  d("link_protocol_errors_total", "Links closed because the linker broke the Link protocol."),
		eventsHeld:    d("events_held", "Client events held because no worker is linked."),
		refusals: d("handshake_refusals_total", "Client connections refused by a limit, by cause: max_handshakes (503), max_connections (503), "+
			"connections_per_ip (503), rate_per_ip (429), proxy_header (closed: PROXY header missing, invalid or from an untrusted address).", "cause"),
	}
}

// Describe implements prometheus.Collector.
func (c *collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{
		c.connections, c.groups, c.uids, c.links, c.announced, c.ready, c.queued,
		c.handshakes, c.msgsIn, c.bytesIn, c.msgsOut, c.bytesOut, c.fanout,
		c.slow, c.heartbeat, c.rateLimited, c.protocol, c.frameTimeout, c.dropped, c.redelivered, c.linksRejected,
		c.paused, c.noWorker, c.tooBig, c.linkProtocol, c.eventsHeld, c.refusals,
	} {
		ch <- d
	}
	c.g.metrics.grpc.Describe(ch)
}

// Collect implements prometheus.Collector.
func (c *collector) Collect(ch chan<- prometheus.Metric) {
	g := c.g
	st := g.Stats()
	m := &g.metrics
	gauge := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
	}
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	gauge(c.connections, float64(st.Clients))
	gauge(c.groups, float64(st.Groups))
	gauge(c.uids, float64(st.UIDs))
	gauge(c.links, float64(st.Workers), "worker")
	gauge(c.links, float64(st.PushClients), "push")
	gauge(c.announced, boolValue(st.Announced))
	gauge(c.ready, boolValue(g.Ready() == nil))
	gauge(c.queued, float64(g.queuedBytes()))
	counter(c.handshakes, st.Accepted, "accepted")
	counter(c.handshakes, st.Rejected-st.OverLimit, "rejected")
	counter(c.handshakes, st.OverLimit, "over_limit")
	counter(c.msgsIn, m.msgsIn.Load())
	counter(c.bytesIn, m.bytesIn.Load())
	counter(c.msgsOut, m.msgsOut.Load())
	counter(c.bytesOut, m.bytesOut.Load())
	for t, h := range m.fanout {
		if h == nil {
			continue
		}
		if metric, err := h.Metric(c.fanout, 1, targetLabel(t)); err == nil {
			ch <- metric
		}
	}
	counter(c.slow, st.SlowConsumer)
	counter(c.heartbeat, st.HeartbeatTimeout)
	counter(c.rateLimited, st.RateLimited)
	counter(c.protocol, st.ProtocolErrors)
	counter(c.frameTimeout, st.FrameTimeouts)
	counter(c.dropped, st.EventsDropped, "no_worker")
	counter(c.paused, st.ClientsPaused)
	counter(c.noWorker, st.NoWorkerClosed)
	counter(c.tooBig, st.TooBigForLink)
	counter(c.linkProtocol, st.LinkProtocolErrors)
	gauge(c.eventsHeld, float64(g.router.heldCount.Load()))
	counter(c.redelivered, st.EventsRedelivered)
	counter(c.linksRejected, st.LinksRejected)
	counter(c.refusals, st.OverHandshakes, refusedMaxHandshakes)
	counter(c.refusals, st.OverLimit, refusedMaxConnections)
	counter(c.refusals, st.OverConnectionsIP, refusedConnectionsPerIP)
	counter(c.refusals, st.OverHandshakeRate, refusedRatePerIP)
	counter(c.refusals, st.ProxyHeaderRefused, refusedProxyHeader)
	m.grpc.Collect(ch)
}

func boolValue(b bool) float64 {
	if b {
		return 1
	}
	return 0
}
