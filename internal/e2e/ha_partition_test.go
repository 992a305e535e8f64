package e2e

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
)

// A gateway cut off by a partition (its LAN side silently drops everything):
// the worker notices within the keepalive bound, queries skip the gateway
// with an error naming it, the gateway drops the worker, and both relink
// once the partition heals.
func TestHAGatewayPartition(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for gRPC keepalive (about 15 s); skipped with -short")
	}
	c := newCluster(t)
	var proxy *partitionProxy
	lan := listen(t)
	proxy = newPartitionProxy(t, lan.Addr().String())
	g1 := c.addGatewayOn("g1", lan, func(cfg *gateway.Config) { cfg.AdvertiseLAN = proxy.addr() })
	g2 := c.addGateway("g2", nil)
	h := &cmdHandler{name: "w"}
	w := c.addWorker("w", h)
	c.waitLinked(1)
	a, b := dial(t, g1.ws), dial(t, g2.ws)
	a.request("who")
	b.request("who")
	count := func() (int, error) {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return w.CountClients(ctx)
	}
	if n, err := count(); n != 2 || err != nil {
		t.Fatalf("count before the partition: %d, %v", n, err)
	}

	proxy.partition()
	cut := time.Now()
	// The worker notices: queries skip g1 with ErrLinkDown naming it, and
	// return g2's part at once.
	var noticed time.Duration
	deadline := cut.Add(30 * time.Second)
	for {
		n, err := count()
		var ge *businessworker.GatewayError
		if errors.Is(err, businessworker.ErrLinkDown) && errors.As(err, &ge) {
			noticed = time.Since(cut)
			if ge.Node != g1.NodeID() || n != 1 {
				t.Fatalf("query during the partition: %d, %v; want 1 and an error naming g1 %s", n, err, g1.NodeID())
			}
			t.Logf("query error during the partition: %v", err)
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("worker did not notice the partition within 30 s (last: %d, %v)", n, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// Sends to g2's clients still work meanwhile.
	if r := b.request("who"); r != "w" {
		t.Fatalf("client of the healthy gateway: %q", r)
	}
	// The gateway drops the silent worker (server keepalive).
	for g1.Stats().Workers != 0 {
		if time.Now().After(deadline) {
			t.Fatal("gateway did not drop the partitioned worker within 30 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
	dropped := time.Since(cut)

	proxy.heal()
	healed := time.Now()
	eventually(t, "relink after the partition", func() bool { return g1.Stats().Workers == 1 })
	relinked := time.Since(healed)
	eventually(t, "queries whole again", func() bool { n, err := count(); return n == 2 && err == nil })
	if r := a.request("who"); r != "w" {
		t.Fatalf("client of the healed gateway: %q", r)
	}
	t.Logf("partition: worker noticed in %v, gateway dropped the worker in %v; healed: relinked in %v",
		noticed.Round(100*time.Millisecond), dropped.Round(100*time.Millisecond), relinked.Round(10*time.Millisecond))
	if noticed > 20*time.Second {
		t.Fatalf("worker noticed after %v, want within the keepalive bound (time + timeout = 15 s)", noticed)
	}
}
