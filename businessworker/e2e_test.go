package businessworker

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// chat is a small handler exercising the API against a real gateway.
type chat struct {
	BaseHandler
	mu  sync.Mutex
	hs  map[string]Handshake
	ids []string
}

func (h *chat) OnConnect(ctx context.Context, e ConnectEvent) (ConnectReply, error) {
	c, hs := e.Client, e.Handshake
	h.mu.Lock()
	if h.hs == nil {
		h.hs = map[string]Handshake{}
	}
	h.hs[c.ID()] = hs
	h.ids = append(h.ids, c.ID())
	h.mu.Unlock()
	_ = c.Send(ctx, Text("welcome "+hs.Query().Get("name")))
	return ConnectReply{}, nil
}

func (h *chat) OnMessage(ctx context.Context, e MessageEvent) {
	c, m := e.Client, e.Message
	cmd, arg, _ := strings.Cut(m.String(), " ")
	switch cmd {
	case "echo":
		_ = c.Send(ctx, Text(arg))
	case "set": // session write-back
		c.Session()["n"] = arg
	case "get":
		_ = c.Send(ctx, Text("n="+c.Session()["n"]))
	case "join":
		_ = c.Worker().JoinGroup(ctx, c.ID(), arg)
	case "say":
		_ = c.Worker().SendToGroup(ctx, "room", Text(arg), WithExclude(c.ID()))
	case "bind":
		_ = c.Worker().BindUID(ctx, c.ID(), arg)
	}
}

func TestClusterEchoOrderAndSession(t *testing.T) {
	c := startCluster(t)
	h := &chat{}
	w := c.worker(h)
	ws := c.dial("/chat?name=ann")
	if got := read(t, ws); got != "welcome ann" {
		t.Fatalf("got %q", got)
	}
	const n = 200
	for i := range n {
		write(t, ws, fmt.Sprint("echo ", i))
	}
	for i := range n {
		if got := read(t, ws); got != fmt.Sprint(i) {
			t.Fatalf("message %d: got %q", i, got)
		}
	}
	// Two quick messages: the second sees the first's session change.
	for i := range 20 {
		write(t, ws, fmt.Sprint("set ", i))
		write(t, ws, "get")
		if got := read(t, ws); got != fmt.Sprint("n=", i) {
			t.Fatalf("round %d: got %q", i, got)
		}
	}
	h.mu.Lock()
	id := h.ids[0]
	hs := h.hs[id]
	h.mu.Unlock()
	if hs.Path != "/chat" || hs.RemoteAddr == "" {
		t.Fatalf("handshake %+v", hs)
	}
	ctx := context.Background()
	if err := w.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	s, err := w.Session(ctx, id)
	if err != nil || s["n"] != "19" {
		t.Fatalf("GetSession = %v, %v", s, err)
	}
	if ok, err := w.IsOnline(ctx, id); !ok || err != nil {
		t.Fatalf("IsOnline = %v, %v", ok, err)
	}
}

func TestClusterGroupsUidsAndPushClient(t *testing.T) {
	c := startCluster(t)
	w := c.worker(&chat{})
	a, b := c.dial("/?name=a"), c.dial("/?name=b")
	read(t, a)
	read(t, b)
	for _, ws := range []*websocket.Conn{a, b} {
		write(t, ws, "join room")
		write(t, ws, "bind 0")
	}
	// Different clients run concurrently: wait for both joins.
	waitUntil(t, "both joined", func() bool {
		n, err := w.CountClientsInGroup(context.Background(), "room")
		return err == nil && n == 2
	})
	write(t, a, "say hello")
	if got := read(t, b); got != "hello" {
		t.Fatalf("b got %q", got)
	}

	p := pushAPI(t, linker.Config{Registers: []string{c.register}, Secret: "s3cret"})
	ctx := context.Background()
	waitUntil(t, "both bound", func() bool {
		ids, err := p.ClientsByUID(ctx, "0")
		return err == nil && len(ids) == 2
	})
	if err := p.SendToUID(ctx, "0", Text("to uid")); err != nil {
		t.Fatal(err)
	}
	for _, ws := range []*websocket.Conn{a, b} {
		if got := read(t, ws); got != "to uid" {
			t.Fatalf("got %q", got)
		}
	}
	if n, err := p.CountClients(ctx); err != nil || n != 2 {
		t.Fatalf("count = %d, %v", n, err)
	}
	if n, err := p.CountClientsInGroup(ctx, "room"); err != nil || n != 2 {
		t.Fatalf("group count = %d, %v", n, err)
	}
	if err := p.Ungroup(ctx, "room"); err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if n, err := p.CountClientsInGroup(ctx, "room"); err != nil || n != 0 {
		t.Fatalf("group count after ungroup = %d, %v", n, err)
	}
}

func TestClusterLeaderAmongTwoWorkers(t *testing.T) {
	c := startCluster(t)
	w1, stop1 := c.stoppableWorker(&chat{}, time.Second)
	w2, stop2 := c.stoppableWorker(&chat{}, time.Second)
	waitUntil(t, "both workers known", func() bool { return len(w1.l.Workers()) == 2 && len(w2.l.Workers()) == 2 })
	waitUntil(t, "one leader", func() bool { return w1.IsLeader() != w2.IsLeader() })
	var mu sync.Mutex
	ran := map[string]int{}
	tokens := map[string]uint64{}
	runs := func(w *Worker) int { mu.Lock(); defer mu.Unlock(); return ran[w.ID()] }
	for _, w := range []*Worker{w1, w2} {
		w.Every(5*time.Millisecond, func(ctx context.Context) {
			tok, ok := LeaderToken(ctx)
			mu.Lock()
			defer mu.Unlock()
			ran[w.ID()]++
			if !ok || tok < tokens[w.ID()] {
				t.Errorf("run with LeaderToken %d, %v after %d", tok, ok, tokens[w.ID()])
			}
			tokens[w.ID()] = tok
		}, WithLeaderOnly())
	}
	waitUntil(t, "leader ticks", func() bool { return runs(w1)+runs(w2) >= 5 })
	mu.Lock()
	if len(ran) != 1 {
		t.Fatalf("leader-only timer ran on %d workers: %v", len(ran), ran)
	}
	mu.Unlock()

	// The leader stops: the other one takes over.
	leader, stopLeader, other := w1, stop1, w2
	if w2.IsLeader() {
		leader, stopLeader, other = w2, stop2, w1
	}
	stopLeader()
	waitUntil(t, "new leader", other.IsLeader)
	before := runs(other)
	waitUntil(t, "new leader ticks", func() bool { return runs(other) >= before+3 })
	if leader.IsLeader() {
		t.Fatal("the stopped worker still leads")
	}
	mu.Lock()
	defer mu.Unlock()
	if tokens[other.ID()] <= tokens[leader.ID()] {
		t.Fatalf("fencing token %d of the new leader not above %d of the old one", tokens[other.ID()], tokens[leader.ID()])
	}
	if _, ok := LeaderToken(context.Background()); ok {
		t.Fatal("LeaderToken outside a leader-only run")
	}
}

// slow blocks on every message until its ctx is cancelled.
type slow struct {
	BaseHandler
	entered chan string
}

func (h *slow) OnMessage(ctx context.Context, e MessageEvent) {
	h.entered <- e.Message.String()
	<-ctx.Done()
}

// redelivered echoes the messages it gets a second time.
type redelivered struct{ BaseHandler }

func (redelivered) OnMessage(ctx context.Context, e MessageEvent) {
	c, m := e.Client, e.Message
	_ = c.Send(ctx, Text(fmt.Sprintf("%s redelivered=%v", m, e.Redelivered)))
}

func TestClusterStoppedWorkerEventsGoToAnother(t *testing.T) {
	c := startCluster(t)
	h1 := &slow{entered: make(chan string, 1)}
	_, stop1 := c.stoppableWorker(h1, 100*time.Millisecond)

	ws := c.dial("/")
	write(t, ws, "job")
	select {
	case got := <-h1.entered:
		if got != "job" {
			t.Fatalf("w1 got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("w1 got no message")
	}
	c.worker(redelivered{})
	start := time.Now()
	stop1() // w1 gives up on the event in hand after StopTimeout, unacked
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("w1 took %v to stop", took)
	}
	if got := read(t, ws); got != "job redelivered=true" {
		t.Fatalf("client got %q", got)
	}
}

func TestClusterQueriesAndSessions(t *testing.T) {
	c := startCluster(t)
	h := &chat{}
	w := c.worker(h)
	a, b := c.dial("/?name=a"), c.dial("/?name=b")
	read(t, a)
	read(t, b)
	// Two clients' connect events run concurrently: find each id by the
	// name in its handshake, not by arrival order.
	var ida, idb string
	h.mu.Lock()
	for id, hs := range h.hs {
		switch hs.Query().Get("name") {
		case "a":
			ida = id
		case "b":
			idb = id
		}
	}
	h.mu.Unlock()
	if ida == "" || idb == "" {
		t.Fatalf("handshakes seen: %v", h.hs)
	}
	ctx := context.Background()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.JoinGroup(ctx, ida, "g1"))
	must(w.JoinGroup(ctx, idb, "g1"))
	must(w.JoinGroup(ctx, idb, "g2"))
	must(w.BindUID(ctx, ida, "ua"))
	must(w.SetSession(ctx, ida, map[string]string{"k": "1", "x": "y"}))
	must(w.UpdateSession(ctx, ida, map[string]string{"k": "2"}, "x"))

	if ids, err := w.ClientsInGroup(ctx, "g1"); err != nil || !sameSet(ids, []string{ida, idb}) {
		t.Fatalf("ClientsInGroup = %v, %v", ids, err)
	}
	if uids, err := w.UIDsInGroup(ctx, "g1"); err != nil || !sameSet(uids, []string{"ua"}) {
		t.Fatalf("UIDsInGroup = %v, %v", uids, err)
	}
	if groups, err := w.Groups(ctx); err != nil || !sameSet(groups, []string{"g1", "g2"}) {
		t.Fatalf("Groups = %v, %v", groups, err)
	}
	if uids, err := w.UIDs(ctx); err != nil || !sameSet(uids, []string{"ua"}) {
		t.Fatalf("UIDs = %v, %v", uids, err)
	}
	if uid, err := w.UID(ctx, ida); err != nil || uid != "ua" {
		t.Fatalf("UID = %q, %v", uid, err)
	}
	if ok, err := w.IsUIDOnline(ctx, "ua"); !ok || err != nil {
		t.Fatalf("IsUIDOnline = %v, %v", ok, err)
	}
	if s, err := w.Session(ctx, ida); err != nil || len(s) != 1 || s["k"] != "2" {
		t.Fatalf("GetSession after update = %v, %v", s, err)
	}
	if all, err := w.SessionsInGroup(ctx, "g1"); err != nil || len(all) != 2 || all[ida]["k"] != "2" {
		t.Fatalf("SessionsInGroup = %v, %v", all, err)
	}
	must(w.LeaveGroup(ctx, idb, "g2"))
	if groups, err := w.Groups(ctx); err != nil || !sameSet(groups, []string{"g1"}) {
		t.Fatalf("groups after leave = %v, %v", groups, err)
	}
	must(w.UnbindUID(ctx, ida, "ua"))
	if ok, err := w.IsUIDOnline(ctx, "ua"); ok || err != nil {
		t.Fatalf("IsUIDOnline after unbind = %v, %v", ok, err)
	}

	must(w.CloseClient(ctx, idb, WithLastMessage(Text("bye")), WithCloseCode(4100, "kicked")))
	if got := read(t, b); got != "bye" {
		t.Fatalf("last message %q", got)
	}
	_ = b.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := b.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4100 || ce.Text != "kicked" {
		t.Fatalf("close: %v", err)
	}
	waitUntil(t, "b offline", func() bool { ok, err := w.IsOnline(ctx, idb); return err == nil && !ok })
	if _, err := w.Session(ctx, idb); !errors.Is(err, ErrClientNotFound) {
		t.Fatalf("GetSession of a closed client: %v", err)
	}
}

func sameSet(got, want []string) bool {
	return len(got) == len(want) && !slices.ContainsFunc(want, func(s string) bool { return !slices.Contains(got, s) })
}
