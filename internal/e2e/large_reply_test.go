package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// TestE2ELargeQueryResults: sessions larger than one gRPC message on the
// link may carry (70 MiB against 68 MiB) come back whole: the gateway sends
// them in parts of 1 MiB and the worker joins them. Before, a reply past
// the link's message limit broke the link of every client on it.
func TestE2ELargeQueryResults(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("g1", nil)
	w := c.addWorker("w1", businessworker.BaseHandler{})
	c.waitLinked(1)
	const n = 150
	big := strings.Repeat("s", 480<<10) // 150 x 480 KiB = 70 MiB of sessions: more than one gRPC message may carry
	ctx := context.Background()
	ids := make([]string, 0, n)
	for i := range n {
		cl := dial(t, g.ws)
		_ = cl
		eventually(t, "client counted", func() bool { return g.Stats().Clients == i+1 })
	}
	all, err := w.Clients(ctx)
	if err != nil || len(all) != n {
		t.Fatalf("client list: %d, %v", len(all), err)
	}
	for _, id := range all {
		if err := w.UpdateSession(ctx, id, map[string]string{"blob": big, "id": id}); err != nil {
			t.Fatal(err)
		}
		if err := w.JoinGroup(ctx, id, "everyone"); err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	sessions, err := w.AllSessions(ctx)
	if err != nil {
		t.Fatalf("all sessions: %v", err)
	}
	if len(sessions) != n {
		t.Fatalf("%d sessions, want %d", len(sessions), n)
	}
	for _, id := range ids {
		s := sessions[id]
		if s["id"] != id || len(s["blob"]) != len(big) {
			t.Fatalf("session of %s: id %q, blob of %d bytes", id, s["id"], len(s["blob"]))
		}
	}
	members, err := w.SessionsInGroup(ctx, "everyone")
	if err != nil || len(members) != n {
		t.Fatalf("group sessions: %d, %v", len(members), err)
	}
	// The link survived: a plain call still works.
	if cnt, err := w.CountClients(ctx); err != nil || cnt != n {
		t.Fatalf("count %d, %v", cnt, err)
	}
	t.Logf("%d sessions of %d KiB each (%d KiB) read in one query", n, len(big)>>10, n*len(big)>>10)
}
