package gateway

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	gobws "github.com/gobwas/ws"
	ws "github.com/gorilla/websocket"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"github.com/gatewayworker/gatewayworker/internal/metrics"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// scrape returns the samples of reg (see metrics.Flatten for the keys).
func scrape(t *testing.T, reg prometheus.Gatherer) map[string]float64 {
	t.Helper()
	m, err := metrics.Flatten(reg)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// wantMetrics fails the test for every key whose value differs.
func wantMetrics(t *testing.T, reg prometheus.Gatherer, want map[string]float64) {
	t.Helper()
	got := scrape(t, reg)
	for k, v := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: missing from the scrape", k)
		} else if g != v {
			t.Errorf("%s = %v, want %v", k, g, v)
		}
	}
}

// eventuallyMetric waits until the sample key of reg equals v.
func eventuallyMetric(t *testing.T, reg prometheus.Gatherer, key string, v float64) {
	t.Helper()
	var last float64
	deadline := time.Now().Add(waitFor)
	for {
		last = scrape(t, reg)[key]
		if last == v {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s = %v, want %v", key, last, v)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

const gw = "gatewayworker_gateway_"

// TestMetricsTellTheTruth drives a gateway and compares every metric with
// what the test did.
func TestMetricsTellTheTruth(t *testing.T) {
	reg := prometheus.NewRegistry()
	tg := startGateway(t, Config{Metrics: reg, MaxPending: 256 << 10, WriteTimeout: 5 * time.Second, NoWorkerTimeout: 200 * time.Millisecond})

	// No worker: not ready; a client's events are held, and given up with
	// the client (1013) past NoWorkerTimeout.
	eventually(t, "not ready for want of a worker", func() bool {
		err := tg.Ready()
		return errors.Is(err, ErrNotReady) && strings.Contains(err.Error(), "no worker linked")
	})
	lone := dialWS(t, tg.public, "/", nil)
	if err := lone.WriteMessage(ws.TextMessage, []byte("lost")); err != nil {
		t.Fatal(err)
	}
	eventuallyMetric(t, reg, gw+"client_reads_paused_total", 1)
	wantMetrics(t, reg, map[string]float64{gw + "ready": 0})
	eventuallyMetric(t, reg, gw+"no_worker_closes_total", 1)
	eventuallyMetric(t, reg, gw+"connections", 0)
	eventuallyMetric(t, reg, gw+`events_dropped_total{reason="no_worker"}`, 2) // its connect and close; its message was never read
	eventuallyMetric(t, reg, gw+"events_held", 0)

	// A worker and a push client link.
	w := dialLink(t, tg.lan, "", "w1", true)
	dialLink(t, tg.lan, "", "p1", false)
	eventually(t, "ready", func() bool { return tg.Ready() == nil })
	wantMetrics(t, reg, map[string]float64{
		gw + "ready": 1, gw + `links{kind="worker"}`: 1, gw + `links{kind="push"}`: 1, gw + "announced": 0,
	})
	// A client in place of the one closed: it stays, and sends one message.
	lone = dialWS(t, tg.public, "/", nil)
	w.connectEvent()
	if err := lone.WriteMessage(ws.TextMessage, []byte("lost")); err != nil {
		t.Fatal(err)
	}
	if w.event().GetMessage() == nil {
		t.Fatal("want a message event")
	}

	// N clients connect (one more is refused: not a WebSocket request).
	const n = 5
	clients := make([]*ws.Conn, n)
	ids := make([]uint64, n)
	for i := range clients {
		clients[i] = dialWS(t, tg.public, "/", nil)
		ids[i] = w.connectEvent().GetConn()
	}
	resp, err := http.Get("http://" + tg.public + "/")
	if err == nil {
		resp.Body.Close()
	}
	eventuallyMetric(t, reg, gw+`handshakes_total{result="rejected"}`, 1)
	wantMetrics(t, reg, map[string]float64{
		gw + "connections":                           n + 1,
		gw + `handshakes_total{result="accepted"}`:   n + 2, // the client closed with 1013 too
		gw + `handshakes_total{result="over_limit"}`: 0,
	})

	// M messages from each client.
	const m = 3
	inBytes := len("lost") // the message of the stand-in above counts too
	for i, c := range clients {
		for j := range m {
			msg := fmt.Sprintf("client %d message %d", i, j)
			inBytes += len(msg)
			if err := c.WriteMessage(ws.TextMessage, []byte(msg)); err != nil {
				t.Fatal(err)
			}
		}
	}
	for range n * m {
		if w.event().GetMessage() == nil {
			t.Fatal("want a message event")
		}
	}
	wantMetrics(t, reg, map[string]float64{
		gw + "messages_received_total": n*m + 1,
		gw + "received_bytes_total":    float64(inBytes),
	})

	// Two broadcasts to all and one send to one client.
	all := &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: []byte("hello")}}}
	w.commands(all, all, sendTo("you", ids[0]))
	for _, c := range clients {
		for _, want := range []string{"hello", "hello"} {
			if _, got := readMsg(t, c); got != want {
				t.Fatalf("client got %q, want %q", got, want)
			}
		}
	}
	if _, got := readMsg(t, clients[0]); got != "you" {
		t.Fatalf("client 0 got %q", got)
	}
	sent := float64(2*(n+1) + 1)
	wantMetrics(t, reg, map[string]float64{
		gw + "messages_sent_total":                          sent,
		gw + "sent_bytes_total":                             float64(2*(n+1)*len("hello") + len("you")),
		gw + `send_fanout_count{target="all"}`:              2,
		gw + `send_fanout_sum{target="all"}`:                2 * (n + 1),
		gw + `send_fanout_bucket{le="5",target="all"}`:      0,
		gw + `send_fanout_bucket{le="10",target="all"}`:     2,
		gw + `send_fanout_count{target="clients"}`:          1,
		gw + `send_fanout_sum{target="clients"}`:            1,
		gw + `send_fanout_count{target="groups"}`:           0,
		gw + `grpc_errors_total{code="InvalidArgument"}`:    0,
		gw + "slow_consumer_closes_total":                   0,
		gw + "queued_bytes":                                 0,
		gw + "link_protocol_errors_total":                   0,
		gw + "too_big_for_link_closes_total":                0,
		gw + "events_redelivered_total":                     0,
		gw + "links_rejected_total":                         0,
		gw + "heartbeat_timeout_closes_total":               0,
		gw + "rate_limited_closes_total":                    0,
		gw + "protocol_error_closes_total":                  0,
		gw + "frame_timeout_closes_total":                   0,
		gw + "groups":                                       0,
		gw + "uids":                                         0,
		gw + `handshakes_total{result="rejected"}`:          1,
		gw + `events_dropped_total{reason="no_worker"}`:     2,
		gw + `send_fanout_bucket{le="+Inf",target="uids"}`:  0,
		gw + `send_fanout_bucket{le="1",target="clients"}`:  1,
		gw + `send_fanout_bucket{le="0",target="clients"}`:  0,
		gw + `send_fanout_bucket{le="+Inf",target="all"}`:   2,
		gw + `send_fanout_bucket{le="100000",target="all"}`: 2,
	})

	// A link without Hello is refused: one gRPC error.
	cc, err := grpc.NewClient(tg.lan, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	stream, err := pb.NewGatewayClient(cc).Link(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if err := stream.Send(&pb.LinkRequest{}); err != nil {
		t.Fatal(err)
	}
	if _, err := stream.Recv(); status.Code(err) != codes.InvalidArgument {
		t.Fatalf("link without hello: %v", err)
	}
	eventuallyMetric(t, reg, gw+`grpc_errors_total{code="InvalidArgument"}`, 1)

	// A client that sends an unmasked frame breaks RFC 6455: closed, counted.
	bad, err := net.Dial("tcp", tg.public)
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, _, err := gobws.DefaultDialer.Upgrade(bad, mustURL(t, "ws://"+tg.public+"/")); err != nil {
		t.Fatal(err)
	}
	w.connectEvent()
	if _, err := bad.Write([]byte{0x81, 0x02, 'h', 'i'}); err != nil {
		t.Fatal(err)
	}
	eventuallyMetric(t, reg, gw+"protocol_error_closes_total", 1)
	eventuallyMetric(t, reg, gw+"connections", n+1)
	if w.event().GetClose() == nil {
		t.Fatal("want the bad client's close event")
	}

	// A client that does not read: its queue grows (queued bytes), then it
	// is closed as a slow consumer, once.
	raw, err := net.Dial("tcp", tg.public)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, _, err := gobws.DefaultDialer.Upgrade(raw, mustURL(t, "ws://"+tg.public+"/")); err != nil {
		t.Fatal(err)
	}
	slow := w.connectEvent().GetConn()
	payload := make([]byte, 16<<10)
	sawQueue := false
	for i := 0; tg.Stats().SlowConsumer == 0; i++ {
		if i == 4000 {
			t.Fatal("slow client never closed")
		}
		w.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{slow}, Data: payload, Binary: true}}})
		w.flush()
		if !sawQueue && scrape(t, reg)[gw+"queued_bytes"] > 0 {
			sawQueue = true
		}
	}
	if !sawQueue {
		t.Error("queued_bytes never rose while a client did not read")
	}
	eventuallyMetric(t, reg, gw+"connections", n+1)
	wantMetrics(t, reg, map[string]float64{gw + "slow_consumer_closes_total": 1})
	eventuallyMetric(t, reg, gw+"queued_bytes", 0)
}

func TestReadyWhileDraining(t *testing.T) {
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "not serving") {
		t.Fatalf("Ready before Serve = %v", err)
	}
	tg := startGateway(t, Config{DrainTimeout: time.Second})
	dialLink(t, tg.lan, "", "w1", true)
	eventually(t, "ready", func() bool { return tg.Ready() == nil })
	c := dialWS(t, tg.public, "/", nil)
	tg.cancel()
	// The client is told 1001 while the gateway drains; Ready says so.
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	if _, _, err := c.ReadMessage(); !ws.IsCloseError(err, ws.CloseGoingAway) {
		t.Fatalf("client: %v, want 1001", err)
	}
	if err := tg.Ready(); !errors.Is(err, ErrNotReady) || !strings.Contains(err.Error(), "draining") {
		t.Fatalf("Ready while draining = %v", err)
	}
	_ = c.Close()
	if err := tg.stop(t); err != nil {
		t.Fatal(err)
	}
}

func TestMetricsRegisterTwice(t *testing.T) {
	reg := prometheus.NewRegistry()
	if _, err := New(Config{Metrics: reg}); err != nil {
		t.Fatal(err)
	}
	// A second gateway in the same registry collides: refused, no panic.
	if _, err := New(Config{Metrics: reg}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("second New on one registry = %v, want ErrInvalidConfig", err)
	}
}

// BenchmarkCountSend measures what metrics add to a send command: the
// per-recipient tally and the per-command counters and histogram.
func BenchmarkCountSend(b *testing.B) {
	g, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	cm := &commander{g: g}
	s := &pb.Send{Target: pb.Send_TARGET_GROUPS, Data: make([]byte, 64)}
	b.ReportAllocs()
	for b.Loop() {
		cm.delivered += 100
		cm.countSend(s)
	}
}

// ExampleConfig_metrics exports a gateway's metrics to a Prometheus
// registry; serve the registry with promhttp on an admin address.
func ExampleConfig_metrics() {
	reg := prometheus.NewRegistry()
	g, err := New(Config{Metrics: reg})
	if err != nil {
		fmt.Println(err)
		return
	}
	_ = g // g.Serve(ctx, public, lan) ...
	families, _ := reg.Gather()
	for _, f := range families {
		fmt.Println(f.GetName(), f.GetType())
	}
	// Output:
	// gatewayworker_gateway_announced GAUGE
	// gatewayworker_gateway_client_reads_paused_total COUNTER
	// gatewayworker_gateway_compressed_connections GAUGE
	// gatewayworker_gateway_compressed_messages_sent_total COUNTER
	// gatewayworker_gateway_compression_frame_bytes_total COUNTER
	// gatewayworker_gateway_compressions_total COUNTER
	// gatewayworker_gateway_connections GAUGE
	// gatewayworker_gateway_events_dropped_total COUNTER
	// gatewayworker_gateway_events_held GAUGE
	// gatewayworker_gateway_events_redelivered_total COUNTER
	// gatewayworker_gateway_frame_timeout_closes_total COUNTER
	// gatewayworker_gateway_groups GAUGE
	// gatewayworker_gateway_grpc_errors_total COUNTER
	// gatewayworker_gateway_handshake_refusals_total COUNTER
	// gatewayworker_gateway_handshakes_total COUNTER
	// gatewayworker_gateway_heartbeat_timeout_closes_total COUNTER
	// gatewayworker_gateway_link_protocol_errors_total COUNTER
	// gatewayworker_gateway_links GAUGE
	// gatewayworker_gateway_links_rejected_total COUNTER
	// gatewayworker_gateway_messages_received_total COUNTER
	// gatewayworker_gateway_messages_sent_total COUNTER
	// gatewayworker_gateway_no_worker_closes_total COUNTER
	// gatewayworker_gateway_protocol_error_closes_total COUNTER
	// gatewayworker_gateway_queued_bytes GAUGE
	// gatewayworker_gateway_rate_limited_closes_total COUNTER
	// gatewayworker_gateway_ready GAUGE
	// gatewayworker_gateway_received_bytes_total COUNTER
	// gatewayworker_gateway_send_fanout HISTOGRAM
	// gatewayworker_gateway_sent_bytes_total COUNTER
	// gatewayworker_gateway_slow_consumer_closes_total COUNTER
	// gatewayworker_gateway_too_big_for_link_closes_total COUNTER
	// gatewayworker_gateway_uids GAUGE
}
