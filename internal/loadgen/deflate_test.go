package loadgen

import (
	"context"
	"strings"
	"testing"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
)

// broadcaster is the workload's server side: every message to every client.
type broadcaster struct{ businessworker.BaseHandler }

func (broadcaster) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, m := e.Client, e.Message
	_ = c.Worker().SendToAll(ctx, m)
}

// TestCompressionAgainstGateway runs the compression scenario against a
// real gateway and worker: the connections negotiate permessage-deflate,
// every delivery arrives (decompressed and parsed), and the 4 KiB JSON
// messages take several times fewer bytes on the wire than without
// compression.
func TestCompressionAgainstGateway(t *testing.T) {
	cl := testcluster.NewCluster(t, "")
	gw := cl.AddGateway("g", nil)
	cl.AddWorker(broadcaster{})

	run := func(compression bool) *Report {
		rep := runBench(t, Config{Worker: WorkerConfig{URL: gw.WS, Conns: 10, Senders: 1, Rate: 40,
			Size: 4096, PadJSON: true, Compression: compression}})
		if rep.Conns != 10 || rep.ConnectErrors != 0 || rep.Sent == 0 || rep.Deliveries != rep.Expected || rep.Bad != 0 {
			t.Fatalf("compression %v: conns %d errors %d (%s), sent %d, deliveries %d of %d, bad %d",
				compression, rep.Conns, rep.ConnectErrors, rep.ConnectError, rep.Sent, rep.Deliveries, rep.Expected, rep.Bad)
		}
		return rep
	}
	plain, zipped := run(false), run(true)
	t.Logf("wire bytes per message: %.0f plain, %.0f compressed", plain.WireBytesPerMessage, zipped.WireBytesPerMessage)
	if plain.WireBytesPerMessage != 4100 {
		t.Errorf("plain: %.0f wire bytes per message, want 4100 (4-byte header)", plain.WireBytesPerMessage)
	}
	if !zipped.Compression || zipped.WireBytesPerMessage*3 > plain.WireBytesPerMessage {
		t.Errorf("compressed: %.0f wire bytes per message (compression %v)", zipped.WireBytesPerMessage, zipped.Compression)
	}
	testcluster.WaitFor(t, "the compressed clients gone", func() bool { return gw.Stats().CompressedClients == 0 })
}

// TestCompressionRefused: a server that does not accept the offer fails
// every dial, with the reason.
func TestCompressionRefused(t *testing.T) {
	srv := startTestServer(t, nil)
	b, err := New(Config{Worker: WorkerConfig{URL: srv.url(), Conns: 2, Compression: true}, Idle: true})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	rep, err := b.Run(ctx, nil)
	if err == nil && rep.ConnectErrors == 0 {
		t.Fatal("dials succeeded without permessage-deflate")
	}
	if err == nil && !strings.Contains(rep.ConnectError, "did not accept permessage-deflate") {
		t.Fatalf("connect error %q", rep.ConnectError)
	}
}

func TestJSONPadding(t *testing.T) {
	for _, n := range []int{0, 1, 100, 4064} {
		if p := jsonPadding(n); len(p) != n {
			t.Fatalf("jsonPadding(%d) has %d bytes", n, len(p))
		}
	}
}
