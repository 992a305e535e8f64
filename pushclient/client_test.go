package pushclient

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
)

var text = businessworker.Text

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no registers: %v", err)
	}
	if _, err := New(Config{Registers: []string{"127.0.0.1:1"}, QueryTimeout: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative timeout: %v", err)
	}
	if _, err := New(Config{Registers: []string{"127.0.0.1:1"}, MaxQueueAge: -1}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("negative MaxQueueAge: %v", err)
	}
	c, err := New(Config{Registers: []string{"127.0.0.1:1"}})
	if err != nil || len(c.ID()) != 32 {
		t.Fatalf("New: %v, id %q", err, c.ID())
	}
	if err := c.Close(context.Background()); err != nil { // never started
		t.Fatal(err)
	}
	if err := c.SendToAll(context.Background(), text("x")); !errors.Is(err, businessworker.ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

// twoGateways is a cluster of two gateways with two clients on each.
type twoGateways struct {
	c              *testcluster.Cluster
	g1, g2         *testcluster.Gateway
	h              *ids
	p              *Client
	a1, a2, b1, b2 *wsClient
}

func startTwo(t *testing.T) *twoGateways {
	t.Helper()
	c := testcluster.NewCluster(t, secret)
	tg := &twoGateways{c: c, g1: c.AddGateway("g1", nil), g2: c.AddGateway("g2", nil), h: &ids{}}
	c.AddWorker(tg.h)
	tg.a1, tg.a2 = dialWS(t, tg.h, tg.g1.WS, "a1"), dialWS(t, tg.h, tg.g1.WS, "a2")
	tg.b1, tg.b2 = dialWS(t, tg.h, tg.g2.WS, "b1"), dialWS(t, tg.h, tg.g2.WS, "b2")
	p, err := New(Config{Registers: []string{c.Register}, Secret: secret, Name: "test-push"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	tg.p = p
	return tg
}

func (tg *twoGateways) all() []*wsClient { return []*wsClient{tg.a1, tg.a2, tg.b1, tg.b2} }

func check(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func equal[T any](t *testing.T, what string, got, want T) {
	t.Helper()
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// TestEveryCall runs every call of the API from a push client against two
// gateways with two clients each.
func TestEveryCall(t *testing.T) {
	tg := startTwo(t)
	p, ctx := tg.p, context.Background()
	a1, a2, b1, b2 := tg.a1, tg.a2, tg.b1, tg.b2

	// Lazy: the client linked on its first call, not in New.
	equal(t, "push clients before first use", tg.g1.Stats().PushClients, 0)
	check(t, p.Flush(ctx))
	equal(t, "push clients after first use", tg.g1.Stats().PushClients+tg.g2.Stats().PushClients, 2)

	t.Run("sendToAll", func(t *testing.T) {
		check(t, p.SendToAll(ctx, text("all")))
		check(t, p.SendToAll(ctx, text("excl"), businessworker.WithExclude(a1.id, b2.id)))
		check(t, p.SendToAll(ctx, businessworker.Binary([]byte("only")), businessworker.WithClients(a1.id, b1.id)))
		a1.expect("all", "bin:only")
		a2.expect("all", "excl")
		b1.expect("all", "excl", "bin:only")
		b2.expect("all")
		for _, c := range tg.all() {
			c.nothingBefore(p, "end")
		}
	})
	t.Run("sendToClient order", func(t *testing.T) {
		for i := range 100 {
			check(t, p.SendToClient(ctx, b2.id, text(fmt.Sprint(i))))
		}
		for i := range 100 {
			b2.expect(fmt.Sprint(i))
		}
	})
	t.Run("uids", func(t *testing.T) {
		// uid "0" on both gateways: one user, two devices.
		check(t, p.BindUID(ctx, a1.id, "0"))
		check(t, p.BindUID(ctx, b1.id, "0"))
		check(t, p.BindUID(ctx, a2.id, "u2"))
		check(t, p.SendToUID(ctx, "0", text("to 0")))
		check(t, p.SendToUIDs(ctx, []string{"0", "u2"}, text("to both")))
		a1.expect("to 0", "to both")
		b1.expect("to 0", "to both")
		a2.expect("to both")
		b2.nothingBefore(p, "none")
		ids, err := p.ClientsByUID(ctx, "0")
		check(t, err)
		equal(t, "ClientsByUID(0)", sorted(ids...), sorted(a1.id, b1.id))
		on, err := p.IsUIDOnline(ctx, "0")
		check(t, err)
		equal(t, "IsUIDOnline(0)", on, true)
		on, err = p.IsUIDOnline(ctx, "nobody")
		check(t, err)
		equal(t, "IsUIDOnline(nobody)", on, false)
		uid, err := p.UID(ctx, b1.id)
		check(t, err)
		equal(t, "UID(b1)", uid, "0")
		uid, err = p.UID(ctx, b2.id)
		check(t, err)
		equal(t, "UID(b2)", uid, "")
		list, err := p.UIDs(ctx)
		check(t, err)
		equal(t, "UIDs", list, []string{"0", "u2"})
		n, err := p.CountUIDs(ctx)
		check(t, err)
		equal(t, "CountUIDs", n, 2)
		batch, err := p.ClientsByUIDs(ctx, []string{"0", "u2", "nobody"})
		check(t, err)
		equal(t, "ClientsByUIDs", batch, map[string][]string{"0": sorted(a1.id, b1.id), "u2": {a2.id}, "nobody": {}})
		online, err := p.UIDsOnline(ctx, []string{"0", "nobody"})
		check(t, err)
		equal(t, "UIDsOnline", online, map[string]bool{"0": true, "nobody": false})

		check(t, p.UnbindUID(ctx, b1.id, "0"))
		ids, err = p.ClientsByUID(ctx, "0")
		check(t, err)
		equal(t, "ClientsByUID(0) after unbind", ids, []string{a1.id})
		check(t, p.BindUID(ctx, b1.id, "0"))
	})
	t.Run("groups", func(t *testing.T) {
		for _, c := range []*wsClient{a1, b1, b2} {
			check(t, p.JoinGroup(ctx, c.id, "0"))
		}
		check(t, p.JoinGroup(ctx, a2.id, "room"))
		check(t, p.JoinGroup(ctx, a1.id, "room"))
		check(t, p.SendToGroup(ctx, "0", text("g0"), businessworker.WithExclude(b2.id)))
		// a1 is in both groups and gets the message once.
		check(t, p.SendToGroups(ctx, []string{"0", "room"}, text("g*")))
		a1.expect("g0", "g*")
		b1.expect("g0", "g*")
		a2.expect("g*")
		b2.expect("g*")
		for _, c := range tg.all() {
			c.nothingBefore(p, "end")
		}

		members, err := p.ClientsInGroup(ctx, "0")
		check(t, err)
		equal(t, "ClientsInGroup(0)", sorted(members...), sorted(a1.id, b1.id, b2.id))
		n, err := p.CountClientsInGroup(ctx, "0")
		check(t, err)
		equal(t, "CountClientsInGroup(0)", n, 3)
		n, err = p.CountClientsInGroup(ctx, "")
		check(t, err)
		equal(t, "CountClientsInGroup(\"\")", n, 4)
		uids, err := p.UIDsInGroup(ctx, "0")
		check(t, err)
		equal(t, "UIDsInGroup(0)", uids, []string{"0"}) // b2 is unbound
		n, err = p.CountUIDsInGroup(ctx, "room")
		check(t, err)
		equal(t, "CountUIDsInGroup(room)", n, 2)
		groups, err := p.Groups(ctx)
		check(t, err)
		equal(t, "Groups", groups, []string{"0", "room"})
		gu, err := p.AllGroupUIDs(ctx)
		check(t, err)
		equal(t, "AllGroupUIDs", gu, map[string][]string{"0": {"0"}, "room": {"0", "u2"}})
		gc, err := p.AllGroupClients(ctx)
		check(t, err)
		equal(t, "AllGroupClients", gc, map[string][]string{"0": sorted(a1.id, b1.id, b2.id), "room": sorted(a1.id, a2.id)})
		gcn, err := p.AllGroupClientCounts(ctx)
		check(t, err)
		equal(t, "AllGroupClientCounts", gcn, map[string]int{"0": 3, "room": 2})
		gun, err := p.AllGroupUIDCounts(ctx)
		check(t, err)
		equal(t, "AllGroupUIDCounts", gun, map[string]int{"0": 1, "room": 2})
		counts, err := p.CountClientsInGroups(ctx, []string{"0", "room", "none"})
		check(t, err)
		equal(t, "CountClientsInGroups", counts, map[string]int{"0": 3, "room": 2, "none": 0})

		check(t, p.LeaveGroup(ctx, b2.id, "0"))
		check(t, p.Ungroup(ctx, "room"))
		counts, err = p.CountClientsInGroups(ctx, []string{"0", "room"})
		check(t, err)
		equal(t, "counts after leave and ungroup", counts, map[string]int{"0": 2, "room": 0})
	})
	t.Run("sessions", func(t *testing.T) {
		check(t, p.SetSession(ctx, b1.id, map[string]string{"a": "1", "b": "2"}))
		check(t, p.UpdateSession(ctx, b1.id, map[string]string{"b": "3", "k": "v"}, "a"))
		s, err := p.Session(ctx, b1.id)
		check(t, err)
		equal(t, "session after update", s, map[string]string{"b": "3", "k": "v"})
		check(t, p.SetSession(ctx, a1.id, map[string]string{"x": "y"}))
		check(t, p.SetSession(ctx, a1.id, map[string]string{"k": "a1"})) // replaces
		byGroup, err := p.SessionsInGroup(ctx, "0")
		check(t, err)
		equal(t, "SessionsInGroup(0)", byGroup, map[string]map[string]string{
			a1.id: {"k": "a1"}, b1.id: {"b": "3", "k": "v"},
		})
		all, err := p.AllSessions(ctx)
		check(t, err)
		equal(t, "AllSessions keys", slices.Sorted(maps.Keys(all)), sorted(a1.id, a2.id, b1.id, b2.id))
		equal(t, "a2 session", all[a2.id], map[string]string{})
		// The worker's handler sees the client: id, address, gateway, uid,
		// session.
		check(t, b1.conn.WriteMessage(1, []byte("whoami")))
		id, _ := clientid.Parse(b1.id)
		b1.expect(fmt.Sprintf("%s true %s %q %q", b1.id, clientid.FormatNode(id.Node), "0", "v"))
		if _, err := p.Session(ctx, clientid.ID{Node: id.Node, Conn: 999999}.String()); !errors.Is(err, businessworker.ErrClientNotFound) {
			t.Fatalf("session of unknown client: %v", err)
		}
	})
	t.Run("clients", func(t *testing.T) {
		list, err := p.Clients(ctx)
		check(t, err)
		equal(t, "Clients", list, sorted(a1.id, a2.id, b1.id, b2.id))
		n, err := p.CountClients(ctx)
		check(t, err)
		equal(t, "CountClients", n, 4)
		on, err := p.IsOnline(ctx, b2.id)
		check(t, err)
		equal(t, "IsOnline(b2)", on, true)
		stats, err := p.Stats(ctx)
		check(t, err)
		equal(t, "gateways in Stats", len(stats), 2)
		for _, s := range stats {
			if s.Clients != 2 || s.Workers != 1 || s.PushClients != 1 || s.Name == "" || s.LANAddr == "" {
				t.Fatalf("stats %+v", s)
			}
		}
	})
	t.Run("close", func(t *testing.T) {
		check(t, p.SendToClient(ctx, a2.id, text("queued")))
		check(t, p.CloseClient(ctx, a2.id, businessworker.WithLastMessage(text("bye"))))
		a2.expect("queued", "bye")
		equal(t, "close code", a2.closed(), 1000)
		check(t, p.DestroyClient(ctx, b2.id))
		if code := b2.closed(); code != 1000 && code != -1 {
			t.Fatalf("destroyed client: close code %d", code)
		}
		testcluster.WaitFor(t, "both gone", func() bool {
			n, err := p.CountClients(ctx)
			return err == nil && n == 2
		})
		on, err := p.IsOnline(ctx, b2.id)
		check(t, err)
		equal(t, "IsOnline(b2) after destroy", on, false)
	})
}

func TestConcurrentUse(t *testing.T) {
	tg := startTwo(t)
	ctx := context.Background()
	var wg sync.WaitGroup
	const senders, each = 8, 25
	for s := range senders {
		wg.Go(func() {
			for i := range each {
				_ = tg.p.SendToClient(ctx, tg.b1.id, text(fmt.Sprint(s, " ", i)))
				_, _ = tg.p.CountClients(ctx)
			}
		})
	}
	wg.Wait()
	last := make([]int, senders)
	for i := range last {
		last[i] = -1
	}
	for range senders * each {
		var s, i int
		if _, err := fmt.Sscan(tg.b1.next(), &s, &i); err != nil {
			t.Fatal(err)
		}
		if i != last[s]+1 {
			t.Fatalf("sender %d: message %d after %d", s, i, last[s])
		}
		last[s] = i
	}
}

// TestQueryGatewayNotAnswering: a gateway that is live but does not answer
// gives the caller the others' result and an error naming it, by the
// deadline.
func TestQueryGatewayNotAnswering(t *testing.T) {
	c := testcluster.NewCluster(t, secret)
	g1 := c.AddGateway("g1", nil)
	var px *proxy
	g2 := c.AddGateway("g2", func(cfg *gateway.Config, lan string) {
		px = newProxy(t, lan)
		cfg.AdvertiseLAN = px.addr()
	})
	h := &ids{}
	c.AddWorker(h)
	dialWS(t, h, g1.WS, "a")
	p, err := New(Config{Registers: []string{c.Register}, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	check(t, p.Flush(ctx))

	px.freeze()
	qctx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	n, err := p.CountClients(qctx)
	took := time.Since(start)
	equal(t, "partial count", n, 1)
	var ge *businessworker.GatewayError
	// A deadline error; or, when a loaded machine let the frozen link's
	// keepalive fire first, link down: either names the gateway.
	if !errors.As(err, &ge) || ge.Node != g2.NodeID() ||
		!(errors.Is(err, context.DeadlineExceeded) || errors.Is(err, businessworker.ErrLinkDown)) {
		t.Fatalf("err = %v, want a deadline or link-down error naming gateway %s", err, g2.NodeID())
	}
	if took > 2*time.Second {
		t.Fatalf("query took %v with a 300ms deadline", took)
	}
	px.thaw()

	// Stopped: the gateway leaves the set (no error) or its link is down
	// (an error naming it); either way g1's part comes back in time.
	g2.Stop()
	qctx, cancel = context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	start = time.Now()
	n, err = p.CountClients(qctx)
	equal(t, "count with g2 stopped", n, 1)
	if err != nil && (!errors.As(err, &ge) || ge.Node != g2.NodeID()) {
		t.Fatalf("err = %v, want nil or an error naming gateway %s", err, g2.NodeID())
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Fatalf("query took %v with a 300ms deadline", took)
	}
}

// TestReconnects: a link cut by the network comes back by itself and
// commands flow again.
func TestReconnects(t *testing.T) {
	c := testcluster.NewCluster(t, secret)
	var px *proxy
	g := c.AddGateway("g", func(cfg *gateway.Config, lan string) {
		px = newProxy(t, lan)
		cfg.AdvertiseLAN = px.addr()
	})
	h := &ids{}
	c.AddWorker(h)
	a := dialWS(t, h, g.WS, "a")
	p, err := New(Config{Registers: []string{c.Register}, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	ctx := context.Background()
	check(t, p.SendToClient(ctx, a.id, text("before")))
	check(t, p.Flush(ctx))
	a.expect("before")

	px.cut()
	testcluster.WaitFor(t, "link back", func() bool {
		fctx, cancel := context.WithTimeout(ctx, time.Second)
		defer cancel()
		return p.Flush(fctx) == nil
	})
	check(t, p.SendToClient(ctx, a.id, text("after")))
	a.expect("after")
}
