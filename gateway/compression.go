package gateway

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatewayworker/gatewayworker/internal/metrics"
	"github.com/gatewayworker/gatewayworker/internal/wsconn"
)

// Compression (permessage-deflate, RFC 7692).
//
// A client that offers it gets it unless Config.DisableCompression is set
// (wsconn negotiates it without context takeover, so the client keeps only
// the rd.Deflate flag). A send command encodes its message once as a plain
// frame and, the first time it meets a recipient that negotiated
// compression, once as a compressed frame (when the payload is at least
// CompressionThreshold bytes and compressing shrinks it): every such
// recipient gets those same compressed bytes, the others the plain ones. A
// client that limited the server's window (server_max_window_bits=N) gets
// the compressed frame only for messages of at most 2^N bytes: compressed
// on its own, a message never refers to bytes before it.

// deflated reports whether the client negotiated permessage-deflate. It is
// set before the client is published and never changes, so any goroutine
// may read it; so is rd.WindowBits.
func (c *conn) deflated() bool { return c.rd.Deflate }

// fitsWindow reports whether a compressed message of n bytes may go to c,
// whose server_max_window_bits may be below 15 (wsconn.FitsWindow).
func (c *conn) fitsWindow(n int) bool { return wsconn.FitsWindow(n, c.rd.WindowBits) }

// outMessage is the message of the send command in progress: its payload
// and, once a compressed recipient was met, its compressed frame.
type outMessage struct {
	data   []byte
	binary bool
	tried  bool   // compression was considered
	frame  []byte // the compressed frame; nil: send the plain one
}

// compressedFrame returns the compressed frame of the message in progress,
// compressing it on the first call, or nil when it goes uncompressed
// (under the threshold, or not smaller compressed).
func (cm *commander) compressedFrame() []byte {
	m := &cm.msg
	if m.tried {
		return m.frame
	}
	m.tried = true
	g := cm.g
	if g.compressor == nil || len(m.data) < g.cfg.CompressionThreshold {
		return nil
	}
	frame, ok := g.compressor.AppendMessage(nil, m.binary, m.data)
	if ok {
		m.frame = frame
		g.metrics.compressions.Add(1)
	}
	return m.frame
}

// deliver queues the message of the send in progress for c: the
// compressed frame if c negotiated compression and there is one, else
// plain (the plain frame). It counts the delivery in cm.delivered (and
// cm.deliveredCompressed); countSend adds the totals once per command.
func (cm *commander) deliver(c *conn, plain []byte) {
	frame, compressed := plain, false
	if c.deflated() && c.fitsWindow(len(cm.msg.data)) {
		if z := cm.compressedFrame(); z != nil {
			frame, compressed = z, true
		}
	}
	if !c.send(frame) {
		return
	}
	cm.delivered++
	if compressed {
		cm.deliveredCompressed++
	}
}

// countCompressed records the compressed deliveries of a send command with
// plain as its uncompressed frame, and resets the message in progress.
func (cm *commander) countCompressed(plain []byte) {
	if n := uint64(cm.deliveredCompressed); n > 0 {
		m := &cm.g.metrics
		m.compressedMsgs.Add(n)
		m.compressedBytes.Add(n * uint64(len(cm.msg.frame)))
		m.compressedRawBytes.Add(n * uint64(len(plain)))
	}
	cm.deliveredCompressed = 0
	cm.msg = outMessage{}
}

// compressionCollector exports the compression metrics to Prometheus, next
// to collector (metrics.go).
type compressionCollector struct {
	g                              *Gateway
	conns, compressions, msgs, out *prometheus.Desc
}

var _ prometheus.Collector = (*compressionCollector)(nil)

func newCompressionCollector(g *Gateway) *compressionCollector {
	d := func(name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(metrics.Namespace+"_gateway_"+name, help, labels, nil)
	}
	return &compressionCollector{
		g:            g,
		conns:        d("compressed_connections", "Client connections that negotiated permessage-deflate (of connections)."),
		compressions: d("compressions_total", "Messages compressed: once per send command that reached a client with permessage-deflate, whatever the number of such clients."),
		msgs:         d("compressed_messages_sent_total", "Messages queued compressed (one per recipient; of messages_sent_total)."),
		out:          d("compression_frame_bytes_total", "Frame bytes of the messages queued compressed (per recipient): as sent (form=compressed) and as they would have been uncompressed (form=uncompressed).", "form"),
	}
}

// Describe implements prometheus.Collector.
func (c *compressionCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.conns, c.compressions, c.msgs, c.out} {
		ch <- d
	}
}

// Collect implements prometheus.Collector.
func (c *compressionCollector) Collect(ch chan<- prometheus.Metric) {
	m := &c.g.metrics
	counter := func(d *prometheus.Desc, v uint64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), labels...)
	}
	ch <- prometheus.MustNewConstMetric(c.conns, prometheus.GaugeValue, float64(c.g.hub.compressed.Load()))
	counter(c.compressions, m.compressions.Load())
	counter(c.msgs, m.compressedMsgs.Load())
	counter(c.out, m.compressedBytes.Load(), "compressed")
	counter(c.out, m.compressedRawBytes.Load(), "uncompressed")
}
