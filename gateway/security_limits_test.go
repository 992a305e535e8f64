package gateway

import (
	"errors"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Each client-facing limit, end to end against a real gateway.

// A client that never finishes its upgrade request (nothing at all, or a
// byte now and then) is dropped at HandshakeTimeout, and the slots it held
// under MaxHandshakes are freed. Handshakes do not count against
// MaxConnections.
func TestLimitSlowlorisDroppedAtHandshakeTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	tg := startGateway(t, Config{HandshakeTimeout: timeout, MaxHandshakes: 2, MaxConnections: 1})
	start := time.Now()
	silent := dialRaw(t, tg.public)
	trickle := dialRaw(t, tg.public)
	stopTrickle := make(chan struct{})
	trickled := make(chan struct{})
	go func() {
		defer close(trickled)
		req := upgradeRequest("/")
		for i := 0; i < len(req)-2; i++ { // never the final CRLF
			select {
			case <-stopTrickle:
				return
			case <-time.After(20 * time.Millisecond):
			}
			if _, err := trickle.nc.Write([]byte{req[i]}); err != nil {
				return
			}
		}
	}()
	defer func() { close(stopTrickle); <-trickled }()

	// Both hold a slot meanwhile: a third client is refused.
	eventually(t, "handshakes counted", func() bool { return tg.edge.handshakes.Load() == 2 })
	if n := tg.nconns.Load(); n != 0 {
		t.Fatalf("%d connections counted for 2 handshakes in progress", n)
	}
	third := dialRaw(t, tg.public)
	if resp := third.request(upgradeRequest("/")); resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("third client: status %d, want 503", resp.StatusCode)
	}

	silent.expectEOF()
	trickle.expectEOF()
	if d := time.Since(start); d < timeout || d > timeout+2*time.Second {
		t.Fatalf("slow handshakes dropped after %v, want about %v", d, timeout)
	}
	eventually(t, "slots freed", func() bool { return tg.edge.handshakes.Load() == 0 })
	upgradeRaw(t, tg.public) // room again
	eventually(t, "handshakes counted", func() bool {
		st := tg.Stats()
		return st.Rejected == 3 && st.OverHandshakes == 1 && st.OverLimit == 0 && st.Accepted == 1
	})
}

// A frame declaring 1 GiB is refused with 1009 from its header alone: the
// gateway allocates nothing for it.
func TestLimitOversizeFrameAllocatesNothing(t *testing.T) {
	tg := startGateway(t, Config{}) // 1 MiB
	w := dialLink(t, tg.lan, "", "w1", true)
	rc := upgradeRaw(t, tg.public)
	w.connectEvent()

	hdr := []byte{0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0} // binary, 1<<30 bytes
	hdr = append(hdr, rawMask[:]...)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	rc.write(hdr)
	rc.write(make([]byte, 16<<10)) // the start of the payload
	rc.expectClose(1009)
	runtime.ReadMemStats(&after)
	if grown := after.TotalAlloc - before.TotalAlloc; grown > 8<<20 {
		t.Fatalf("%d bytes allocated while refusing a 1 GiB frame", grown)
	}
	if cl := w.event().GetClose(); cl.GetCode() != 1009 {
		t.Fatalf("close event %v", cl)
	}
}

// A frame under the limit that never arrives holds only what arrived (the
// reader grows its buffer as bytes come, not on the declared length), and
// is closed with 1008 at FrameTimeout.
func TestLimitStalledFrameBoundedAndTimedOut(t *testing.T) {
	const clients = 20
	tg := startGateway(t, Config{MaxMessageSize: 64 << 20, FrameTimeout: 500 * time.Millisecond})
	ackingWorker(t, tg)
	conns := make([]*rawConn, clients)
	for i := range conns {
		conns[i] = upgradeRaw(t, tg.public)
	}
	eventually(t, "clients attached", func() bool { return tg.Stats().Clients == clients })
	before := heapInUse()
	// Each declares 60 MiB and sends 1 KiB of it.
	hdr := append([]byte{0x82, 0xff, 0, 0, 0, 0, 0x03, 0xc0, 0, 0}, rawMask[:]...)
	for _, rc := range conns {
		rc.write(append(slices.Clip(hdr), make([]byte, 1<<10)...))
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap grown by %d bytes for %d stalled 60 MiB frames", grown, clients)
	if grown > clients*(64<<10)+(1<<20) {
		t.Fatalf("heap grew by %d bytes", grown)
	}
	for _, rc := range conns {
		rc.expectClose(1008)
	}
	eventually(t, "frame timeouts counted", func() bool { return tg.Stats().FrameTimeouts == clients })
	if st := tg.Stats(); st.ProtocolErrors != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

// Origins outside AllowedOrigins get 403 before the upgrade; a request
// without an Origin (not a browser) is let through, as documented.
func TestLimitAllowedOrigins(t *testing.T) {
	tg := startGateway(t, Config{AllowedOrigins: []string{"https://app.example.com", "*.example.org"}})
	cases := []struct {
		origin string
		status int
	}{
		{"https://app.example.com", http.StatusSwitchingProtocols},
		{"HTTPS://APP.EXAMPLE.COM", http.StatusSwitchingProtocols},
		{"https://chat.example.org", http.StatusSwitchingProtocols},
		{"http://chat.example.org:8080", http.StatusSwitchingProtocols},
		{"", http.StatusSwitchingProtocols},
		{"http://app.example.com", http.StatusForbidden},
		{"https://app.example.com.evil.net", http.StatusForbidden},
		{"https://example.org", http.StatusForbidden},
		{"https://evilexample.org", http.StatusForbidden},
		{"null", http.StatusForbidden},
		{"not a url", http.StatusForbidden},
	}
	refused := 0
	for _, tc := range cases {
		rc := dialRaw(t, tg.public)
		var extra []string
		if tc.origin != "" {
			extra = append(extra, "Origin: "+tc.origin+"\r\n")
		}
		resp := rc.request(upgradeRequest("/", extra...))
		if resp.StatusCode != tc.status {
			t.Errorf("origin %q: status %d, want %d", tc.origin, resp.StatusCode, tc.status)
		}
		if tc.status == http.StatusForbidden {
			refused++
			rc.expectEOF()
		}
	}
	eventually(t, "refusals counted", func() bool { return tg.Stats().Rejected == uint64(refused) })
}

// A client that stops reading is closed with 4000 once its queue passes
// MaxPending, and counted; meanwhile a reading client gets every broadcast,
// in order, with the latency it had before.
func TestLimitSlowConsumerDoesNotDelayOthers(t *testing.T) {
	const size = 8 << 10
	tg := startGateway(t, Config{MaxPending: 8 << 20, WriteTimeout: time.Minute})
	push := dialLink(t, tg.lan, "", "push", false)
	w := dialLink(t, tg.lan, "", "w1", true)
	fast := dialWS(t, tg.public, "/", nil)
	w.connectEvent()

	seq := 0
	payload := make([]byte, size)
	// round broadcasts n messages, one at a time, and returns the latency of
	// each to the fast client.
	round := func(n int) []time.Duration {
		lat := make([]time.Duration, 0, n)
		for range n {
			seq++
			payload[0], payload[1] = byte(seq), byte(seq>>8)
			start := time.Now()
			push.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: payload, Binary: true}}})
			_ = fast.SetReadDeadline(time.Now().Add(waitFor))
			_, data, err := fast.ReadMessage()
			if err != nil {
				t.Fatalf("fast client at message %d: %v", seq, err)
			}
			if len(data) != size || data[0] != byte(seq) || data[1] != byte(seq>>8) {
				t.Fatalf("fast client: message %d missing or out of order", seq)
			}
			lat = append(lat, time.Since(start))
		}
		return lat
	}
	round(20) // warm up
	baseline := round(200)

	// The stuck client: a tiny receive buffer, never reads.
	raw, err := net.Dial("tcp", tg.public)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	_ = raw.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, _, err := ws.DefaultDialer.Upgrade(raw, mustURL(t, "ws://"+tg.public+"/")); err != nil {
		t.Fatal(err)
	}
	w.connectEvent()
	round(100) // its socket buffers fill; its queue grows
	stuck := round(200)
	if st := tg.Stats(); st.Clients != 2 || st.SlowConsumer != 0 {
		t.Fatalf("stuck client gone early: %+v", st)
	}
	b50, b90 := quantile(baseline, 0.5), quantile(baseline, 0.9)
	s50, s90 := quantile(stuck, 0.5), quantile(stuck, 0.9)
	t.Logf("fast client latency p50/p90: alone %v/%v, next to a stuck client %v/%v", b50, b90, s50, s90)
	if s50 > 3*b50+2*time.Millisecond || s90 > 3*b90+5*time.Millisecond {
		t.Fatalf("a stuck client slowed the others: p50 %v -> %v, p90 %v -> %v", b50, s50, b90, s90)
	}
	// Past MaxPending the stuck client is closed with 4000 and counted.
	for tg.Stats().SlowConsumer == 0 {
		if seq > 5000 {
			t.Fatal("stuck client never closed")
		}
		round(50)
	}
	eventually(t, "stuck client removed", func() bool { return tg.Stats().Clients == 1 })
	if cl := w.event().GetClose(); cl.GetCode() != 4000 {
		t.Fatalf("close event %v", cl)
	}
	round(10)
	_ = fast.Close()
}

func quantile(d []time.Duration, q float64) time.Duration {
	s := slices.Clone(d)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

// Past MessageRate (burst MessageBurst) a client is closed with 4002 and
// counted; a client within its rate is untouched.
func TestLimitMessageRate(t *testing.T) {
	tg := startGateway(t, Config{MessageRate: 20, MessageBurst: 5})
	w := dialLink(t, tg.lan, "", "w1", true)
	calm := dialWS(t, tg.public, "/", nil)
	w.connectEvent()
	noisy := dialWS(t, tg.public, "/", nil)
	noisyID := w.connectEvent().GetConn()

	for range 5 {
		if err := calm.WriteMessage(websocket.TextMessage, []byte("calm")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(60 * time.Millisecond) // 16/s, under 20/s
	}
	for range 20 {
		if err := noisy.WriteMessage(websocket.TextMessage, []byte("noisy")); err != nil {
			break
		}
	}
	_ = noisy.SetReadDeadline(time.Now().Add(waitFor))
	_, _, err := noisy.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4002 {
		t.Fatalf("noisy client: %v, want close 4002", err)
	}
	calmMsgs, noisyMsgs := 0, 0
	for {
		ev := w.event()
		if cl := ev.GetClose(); cl != nil {
			if ev.GetConn() != noisyID || cl.GetCode() != 4002 {
				t.Fatalf("close event %v", ev)
			}
			break
		}
		switch string(ev.GetMessage().GetData()) {
		case "calm":
			calmMsgs++
		case "noisy":
			noisyMsgs++
		}
	}
	for calmMsgs < 5 {
		if string(w.event().GetMessage().GetData()) == "calm" {
			calmMsgs++
		}
	}
	if noisyMsgs > 5 {
		t.Fatalf("%d messages of the noisy client passed a burst of 5", noisyMsgs)
	}
	eventually(t, "one rate-limited close counted", func() bool { st := tg.Stats(); return st.RateLimited == 1 && st.Clients == 1 })
}

// A client that answers no ping is closed with 4001 after
// PingInterval*(PingMaxMissed+1); one that answers only pongs stays.
func TestLimitHeartbeat(t *testing.T) {
	tg := startGateway(t, Config{PingInterval: 50 * time.Millisecond, PingMaxMissed: 2})
	ackingWorker(t, tg)
	deaf := upgradeRaw(t, tg.public)
	alive := upgradeRaw(t, tg.public)
	start := time.Now()
	done := make(chan struct{})
	defer close(done)
	answered := make(chan int, 1)
	go func() {
		n := 0
		defer func() { answered <- n }()
		for {
			f, err := alive.readFrame()
			if err != nil {
				return
			}
			if f.op == ws.OpPing {
				n++
				if _, err := alive.nc.Write(rawFrame(true, 0, rawPong, true, f.payload)); err != nil {
					return
				}
			}
			select {
			case <-done:
				return
			default:
			}
			if n == 10 {
				return
			}
		}
	}()
	pings := 0
	for {
		f := deaf.expectFrameOrPing()
		if f.op == ws.OpPing {
			pings++
			continue
		}
		if f.op != ws.OpClose || f.closeCode() != 4001 {
			t.Fatalf("deaf client got %v %q", f.op, f.payload)
		}
		break
	}
	if d := time.Since(start); d < 150*time.Millisecond || pings == 0 {
		t.Fatalf("closed after %v and %d pings", d, pings)
	}
	deaf.expectEOF()
	if n := <-answered; n < 10 {
		t.Fatalf("answering client got %d pings, then its connection failed", n)
	}
	eventually(t, "one heartbeat close counted", func() bool { st := tg.Stats(); return st.HeartbeatTimeout == 1 && st.Clients == 1 })
}

// expectFrameOrPing is expectFrame without skipping pings.
func (c *rawConn) expectFrameOrPing() serverFrame {
	c.t.Helper()
	f, err := c.readFrame()
	if err != nil {
		c.t.Fatalf("read frame: %v", err)
	}
	return f
}

// Clients that start a frame and stall (more of them than the read pool has
// workers) do not delay the others: a partly received frame is waited for
// on the client's own goroutine, not on a shared pool worker.
func TestLimitStalledFramesDoNotDelayOthers(t *testing.T) {
	stalled := 300 // > gopool.DefaultSize
	if testing.Short() {
		stalled = 64
	}
	const frameTimeout = 3 * time.Second
	tg := startGateway(t, Config{FrameTimeout: frameTimeout})
	w := dialLink(t, tg.lan, "", "w1", true)
	conns := make([]*rawConn, stalled)
	for i := range conns {
		conns[i] = upgradeRaw(t, tg.public)
		w.connectEvent()
	}
	good := dialWS(t, tg.public, "/", nil)
	goodID := w.connectEvent().GetConn()
	// Every stalled client sends 3 bytes of a 100-byte frame.
	start := time.Now()
	for _, rc := range conns {
		rc.write(maskedFrame(rawText, strings.Repeat("s", 100))[:3])
	}
	for i := range 20 {
		msg := "ping " + strconv.Itoa(i)
		sent := time.Now()
		if err := good.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
			t.Fatal(err)
		}
		ev := w.event()
		if ev.GetConn() != goodID || string(ev.GetMessage().GetData()) != msg {
			t.Fatalf("event %v", ev)
		}
		if d := time.Since(sent); d > frameTimeout/3 {
			t.Fatalf("message %d took %v to reach the worker next to %d stalled clients", i, d, stalled)
		}
	}
	if time.Since(start) > frameTimeout {
		t.Fatal("test too slow to tell")
	}
	for _, rc := range conns {
		rc.expectClose(1008)
	}
	eventually(t, "frame timeouts counted", func() bool { return tg.Stats().FrameTimeouts == uint64(stalled) })
}
