package businessworker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

const testWait = 5 * time.Second

// startWorker runs a Worker over src until the test ends.
func startWorker(t *testing.T, cfg Config, src *linkertest.Source) *Worker {
	t.Helper()
	w, err := newWorker(cfg, src.Run)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	})
	// From then on the links are a worker's (Hello with events).
	select {
	case <-w.started:
	case <-time.After(testWait):
		t.Fatal("OnWorkerStart did not return")
	}
	return w
}

func msgEvent(seq, conn uint64, data string) *pb.Event {
	return &pb.Event{Seq: seq, Conn: conn, Kind: &pb.Event_Message{Message: &pb.Message{Data: []byte(data)}}}
}

func TestNewValidates(t *testing.T) {
	for name, cfg := range map[string]Config{
		"no registers":  {Handler: BaseHandler{}},
		"no handler":    {Registers: []string{"127.0.0.1:1"}},
		"negative":      {Registers: []string{"127.0.0.1:1"}, Handler: BaseHandler{}, EventWindow: -1},
		"negative idle": {Registers: []string{"127.0.0.1:1"}, Handler: BaseHandler{}, ClientIdleTimeout: -1},
		"negative age":  {Registers: []string{"127.0.0.1:1"}, Handler: BaseHandler{}, MaxQueueAge: -1},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
	}
	w, err := New(Config{Registers: []string{"127.0.0.1:1"}, Handler: BaseHandler{}})
	if err != nil || len(w.ID()) != 32 {
		t.Fatalf("New: %v, id %q", err, w.ID())
	}
}

// recorder records the handler calls.
type recorder struct {
	BaseHandler
	mu      sync.Mutex
	started bool
	early   bool // an event came before OnWorkerStart returned
	calls   map[string][]string
	hs      Handshake
	stopped bool
	onStop  func(ctx context.Context, w *Worker)
}

func (r *recorder) add(c *Client, what string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if !r.started {
		r.early = true
	}
	if r.calls == nil {
		r.calls = map[string][]string{}
	}
	r.calls[c.ID()] = append(r.calls[c.ID()], what)
}

func (r *recorder) OnWorkerStart(ctx context.Context, w *Worker) {
	time.Sleep(20 * time.Millisecond) // events must wait for it
	r.mu.Lock()
	r.started = true
	r.mu.Unlock()
}
func (r *recorder) OnConnect(ctx context.Context, e ConnectEvent) (ConnectReply, error) {
	r.add(e.Client, "connect "+e.Client.RemoteAddr())
	r.mu.Lock()
	r.hs = e.Handshake
	r.mu.Unlock()
	r.add(e.Client, "ws "+e.Handshake.Path)
	return ConnectReply{}, nil
}
func (r *recorder) OnMessage(ctx context.Context, e MessageEvent) {
	r.add(e.Client, "msg "+e.Message.String())
}
func (r *recorder) OnClose(ctx context.Context, e CloseEvent) {
	r.add(e.Client, "close "+e.Client.RemoteAddr())
}
func (r *recorder) OnWorkerStop(ctx context.Context, w *Worker) {
	r.mu.Lock()
	r.stopped = true
	fn := r.onStop
	r.mu.Unlock()
	if fn != nil {
		fn(ctx, w)
	}
}

func TestEventsReachHandlersInOrderPerClient(t *testing.T) {
	g := linkertest.NewGateway(t, 0x1001)
	rec := &recorder{}
	w := startWorker(t, Config{Handler: rec}, linkertest.NewSource(g))
	linkertest.WaitFor(t, "link", testWait, func() bool { return w.l.Linked(0x1001) })

	const clients, msgs = 5, 40
	var evs []*pb.Event
	seq := uint64(0)
	next := func() uint64 { seq++; return seq }
	for c := uint64(1); c <= clients; c++ {
		evs = append(evs, &pb.Event{Seq: next(), Conn: c, Kind: &pb.Event_Connect{Connect: &pb.Connect{
			RemoteAddr: fmt.Sprintf("10.0.0.%d:1", c), Path: "/ws", Query: "a=1&b=2",
			Headers: []*pb.Header{{Name: "X-Token", Value: "tok"}},
		}}})
	}
	for i := range msgs {
		for c := uint64(1); c <= clients; c++ {
			evs = append(evs, msgEvent(next(), c, fmt.Sprint(i)))
		}
	}
	for c := uint64(1); c <= clients; c++ {
		evs = append(evs, &pb.Event{Seq: next(), Conn: c, Kind: &pb.Event_Close{Close: &pb.Close{Code: 1000}}})
	}
	for len(evs) > 0 {
		n := min(len(evs), 33)
		g.Push(&pb.LinkResponse{Events: evs[:n]})
		evs = evs[n:]
	}
	linkertest.WaitFor(t, "every event acked", testWait, func() bool { return g.AckedAll(seq) })

	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.early {
		t.Fatal("an event was handled before OnWorkerStart returned")
	}
	for c := uint64(1); c <= clients; c++ {
		id := clientid.ID{Node: 0x1001, Conn: c}.String()
		addr := fmt.Sprintf("10.0.0.%d:1", c)
		want := []string{"connect " + addr, "ws /ws"}
		for i := range msgs {
			want = append(want, "msg "+fmt.Sprint(i))
		}
		want = append(want, "close "+addr)
		if got := rec.calls[id]; !slices.Equal(got, want) {
			t.Fatalf("client %d calls:\n got %v\nwant %v", c, got, want)
		}
	}
	if rec.hs.Query().Get("b") != "2" || rec.hs.Header("x-token") != "tok" || rec.hs.RemoteAddr == "" {
		t.Fatalf("handshake %+v", rec.hs)
	}
}

// sessionHandler changes the session on "set" and records what it sees.
type sessionHandler struct {
	BaseHandler
	mu   sync.Mutex
	seen []string
}

func (h *sessionHandler) OnMessage(ctx context.Context, e MessageEvent) {
	c, m := e.Client, e.Message
	s := c.Session()
	h.mu.Lock()
	h.seen = append(h.seen, m.String()+"="+s["n"])
	h.mu.Unlock()
	if m.String() == "set" {
		s["n"] = "1"
	}
}

func TestSessionWriteBackRace(t *testing.T) {
	g := linkertest.NewGateway(t, 0x1002)
	h := &sessionHandler{}
	w := startWorker(t, Config{Handler: h}, linkertest.NewSource(g))
	linkertest.WaitFor(t, "link", testWait, func() bool { return w.l.Linked(0x1002) })

	// Both events left the gateway before the write-back of the first.
	g.Push(&pb.LinkResponse{Events: []*pb.Event{msgEvent(1, 7, "set"), msgEvent(2, 7, "get")}})
	linkertest.WaitFor(t, "acks", testWait, func() bool { return g.AckedAll(2) })
	// An event sent after the gateway applied it (version 1) is trusted.
	ev := msgEvent(3, 7, "later")
	ev.Session, ev.SessionVersion = map[string]string{"n": "gw"}, 1
	g.Push(&pb.LinkResponse{Events: []*pb.Event{ev}})
	linkertest.WaitFor(t, "ack 3", testWait, func() bool { return g.AckedAll(3) })

	h.mu.Lock()
	seen := slices.Clone(h.seen)
	h.mu.Unlock()
	if want := []string{"set=", "get=1", "later=gw"}; !slices.Equal(seen, want) {
		t.Fatalf("handlers saw %v, want %v", seen, want)
	}
	_, cmds, _, _ := g.Snapshot()
	var sets []*pb.SetSession
	for _, c := range cmds {
		if s := c.GetSetSession(); s != nil {
			sets = append(sets, s)
		}
	}
	if len(sets) != 1 || sets[0].GetConn() != 7 || !sets[0].GetMerge() || !maps.Equal(sets[0].GetSession(), map[string]string{"n": "1"}) || len(sets[0].GetDelete()) != 0 {
		t.Fatalf("write-backs %v, want one merge of conn 7 setting n=1", sets)
	}
}

func TestEveryLeaderOnly(t *testing.T) {
	g := linkertest.NewGateway(t, 0x1003)
	g.Workers = []string{"0"} // another worker with a lower id leads
	w := startWorker(t, Config{Handler: BaseHandler{}}, linkertest.NewSource(g))
	var mu sync.Mutex
	ticks, leaderTicks := 0, 0
	w.Every(5*time.Millisecond, func(ctx context.Context) { mu.Lock(); ticks++; mu.Unlock() })
	stop := w.Every(5*time.Millisecond, func(ctx context.Context) { mu.Lock(); leaderTicks++; mu.Unlock() }, WithLeaderOnly())
	count := func() (int, int) { mu.Lock(); defer mu.Unlock(); return ticks, leaderTicks }

	linkertest.WaitFor(t, "link", testWait, func() bool { return w.l.Linked(0x1003) })
	linkertest.WaitFor(t, "ticks", testWait, func() bool { n, _ := count(); return n >= 5 })
	if _, n := count(); n != 0 || w.IsLeader() {
		t.Fatalf("leader-only timer ran %d times on a follower", n)
	}
	g.Push(&pb.LinkResponse{Workers: []string{w.ID(), "z"}, WorkersChanged: true})
	linkertest.WaitFor(t, "leader ticks", testWait, func() bool { _, n := count(); return n >= 2 })
	stop()
	stop() // idempotent
}

func TestAPIRoutingAndValidation(t *testing.T) {
	g1 := linkertest.NewGateway(t, 0x2001)
	g2 := linkertest.NewGateway(t, 0x2002)
	p := pushAPI(t, linker.Config{Source: linkertest.NewSource(g1, g2).Run})

	a := clientid.ID{Node: 0x2001, Conn: 1}.String()
	b := clientid.ID{Node: 0x2002, Conn: 2}.String()
	unknown := clientid.ID{Node: 0x2003, Conn: 3}.String()
	bg := context.Background()
	if err := p.SendToClient(bg, "zz", Text("x")); !errors.Is(err, ErrInvalidClientID) {
		t.Fatalf("bad id: %v", err)
	}
	if err := p.SendToClient(bg, unknown, Text("x")); !errors.Is(err, ErrGatewayNotLinked) {
		t.Fatalf("unknown gateway: %v", err)
	}
	var ge *GatewayError
	if err := p.JoinGroup(bg, unknown, "g"); !errors.As(err, &ge) || ge.Node != "0000000000002003" {
		t.Fatalf("unknown gateway error names no gateway: %v", err)
	}
	if err := p.JoinGroup(bg, a, ""); !errors.Is(err, ErrEmptyGroup) {
		t.Fatalf("empty group: %v", err)
	}
	if err := p.BindUID(bg, a, ""); !errors.Is(err, ErrEmptyUID) {
		t.Fatalf("empty uid: %v", err)
	}
	if err := p.SendToGroup(bg, "g", Text("x"), WithClients(a)); !errors.Is(err, ErrInvalidOption) {
		t.Fatalf("WithClients on a group: %v", err)
	}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(p.SendToClient(bg, a, Text("one")))
	must(p.BindUID(bg, b, "0"))
	must(p.SendToAll(bg, Binary([]byte{1}), WithExclude(a, b)))
	must(p.SendToAll(bg, Text("only"), WithClients(b)))
	must(p.SendToGroup(bg, "0", Text("grp"), WithExclude(b)))
	must(p.CloseClient(bg, a, WithLastMessage(Text("bye")), WithCloseCode(4100, "kick")))
	must(p.Flush(bg))

	_, c1, _, _ := g1.Snapshot()
	_, c2, _, _ := g2.Snapshot()
	ops := func(cmds []*pb.Command) []string {
		var out []string
		for _, c := range cmds {
			switch {
			case c.GetSend() != nil:
				s := c.GetSend()
				out = append(out, fmt.Sprintf("send %v %s conns%v excl%v bin=%v", s.GetTarget(), s.GetData(), s.GetConns(), s.GetExclude(), s.GetBinary()))
			case c.GetBindUid() != nil:
				out = append(out, "bind "+c.GetBindUid().GetUid())
			case c.GetCloseClient() != nil:
				cc := c.GetCloseClient()
				out = append(out, fmt.Sprintf("close %d %s %d", cc.GetConn(), cc.GetData(), cc.GetCode()))
			case c.GetOp() == nil:
				out = append(out, "flush")
			}
		}
		return out
	}
	want1 := []string{
		"send TARGET_CLIENTS one conns[1] excl[] bin=false",
		"send TARGET_ALL \x01 conns[] excl[1] bin=true",
		"send TARGET_GROUPS grp conns[] excl[] bin=false",
		"close 1 bye 4100",
		"flush",
	}
	want2 := []string{
		"bind 0",
		"send TARGET_ALL \x01 conns[] excl[2] bin=true",
		"send TARGET_CLIENTS only conns[2] excl[] bin=false",
		"send TARGET_GROUPS grp conns[] excl[2] bin=false",
		"flush",
	}
	if got := ops(c1); !slices.Equal(got, want1) {
		t.Fatalf("gateway 1 got\n%q\nwant\n%q", got, want1)
	}
	if got := ops(c2); !slices.Equal(got, want2) {
		t.Fatalf("gateway 2 got\n%q\nwant\n%q", got, want2)
	}
}

func TestAPIWaitsForFirstSnapshot(t *testing.T) {
	g := linkertest.NewGateway(t, 0x3001)
	src := linkertest.NewSource() // no set at all yet
	l, err := linker.New(linker.Config{Source: src.Run, Lazy: true})
	if err != nil {
		t.Fatal(err)
	}
	p := &API{l: l}

	short, cancelShort := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancelShort()
	if err := p.SendToAll(short, Text("x")); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("before any set: %v", err)
	}
	sent := make(chan error, 1)
	go func() { sent <- p.SendToAll(context.Background(), Text("y")) }()
	src.Set(g)
	if err := <-sent; err != nil {
		t.Fatal(err)
	}
	if err := p.Flush(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p.SendToAll(context.Background(), Text("z")); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: %v", err)
	}
}

func TestQueries(t *testing.T) {
	g := linkertest.NewGateway(t, 0x4001)
	g.Answer = func(c *pb.Command) *pb.Reply {
		q := c.GetQuery()
		r := &pb.QueryResult{}
		switch q.GetKind() {
		case pb.Query_KIND_CLIENTS:
			if slices.Contains(q.GetConns(), 9) || len(q.GetConns()) == 0 {
				r.Clients = []*pb.ClientInfo{{Conn: 9, Uid: "u", Session: map[string]string{"k": "v"}}}
				r.Count = 1
			}
		case pb.Query_KIND_UIDS:
			r.Uids = []*pb.UidInfo{{Uid: "u", Conns: []uint64{9}}}
		case pb.Query_KIND_GROUPS:
			r.Groups = []*pb.GroupInfo{{Name: "room", Count: 1, Conns: []uint64{9}, Uids: []string{"u"}}}
		}
		return &pb.Reply{Result: r}
	}
	w := startWorker(t, Config{Handler: BaseHandler{}}, linkertest.NewSource(g))
	bg := context.Background()
	on := clientid.ID{Node: 0x4001, Conn: 9}.String()
	off := clientid.ID{Node: 0x4001, Conn: 10}.String()
	gone := clientid.ID{Node: 0x4002, Conn: 1}.String()
	if ok, err := w.IsOnline(bg, on); !ok || err != nil {
		t.Fatalf("IsOnline(on) = %v, %v", ok, err)
	}
	if ok, err := w.IsOnline(bg, off); ok || err != nil {
		t.Fatalf("IsOnline(off) = %v, %v", ok, err)
	}
	if ok, err := w.IsOnline(bg, gone); ok || err != nil {
		t.Fatalf("IsOnline(gone gateway) = %v, %v", ok, err)
	}
	if s, err := w.Session(bg, on); err != nil || s["k"] != "v" {
		t.Fatalf("GetSession = %v, %v", s, err)
	}
	if _, err := w.Session(bg, off); !errors.Is(err, ErrClientNotFound) {
		t.Fatalf("Session(off): %v", err)
	}
	if ids, err := w.ClientsByUID(bg, "u"); err != nil || !slices.Equal(ids, []string{on}) {
		t.Fatalf("ClientsByUID = %v, %v", ids, err)
	}
	if n, err := w.CountClients(bg); err != nil || n != 1 {
		t.Fatalf("CountClients = %v, %v", n, err)
	}
	if ids, err := w.ClientsInGroup(bg, "room"); err != nil || !slices.Equal(ids, []string{on}) {
		t.Fatalf("ClientsInGroup = %v, %v", ids, err)
	}
	if uids, err := w.UIDsInGroup(bg, "room"); err != nil || !slices.Equal(uids, []string{"u"}) {
		t.Fatalf("UIDsInGroup = %v, %v", uids, err)
	}
	if all, err := w.AllSessions(bg); err != nil || all[on]["k"] != "v" {
		t.Fatalf("AllSessions = %v, %v", all, err)
	}
}

func TestRunStopsGracefully(t *testing.T) {
	g := linkertest.NewGateway(t, 0x5001)
	rec := &recorder{}
	target := clientid.ID{Node: 0x5001, Conn: 1}.String()
	rec.onStop = func(ctx context.Context, w *Worker) {
		if err := w.SendToClient(ctx, target, Text("bye")); err != nil {
			t.Errorf("send from OnWorkerStop: %v", err)
		}
	}
	w, err := newWorker(Config{Handler: rec, StopTimeout: time.Second}, linkertest.NewSource(g).Run)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w.Run(ctx) }()
	linkertest.WaitFor(t, "link", testWait, func() bool { return w.l.Linked(0x5001) })
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(testWait):
		t.Fatal("Run did not return")
	}
	rec.mu.Lock()
	stopped := rec.stopped
	rec.mu.Unlock()
	_, cmds, _, _ := g.Snapshot()
	if !stopped || !slices.ContainsFunc(cmds, func(c *pb.Command) bool { return string(c.GetSend().GetData()) == "bye" }) {
		t.Fatalf("OnWorkerStop called %v; its message reached the gateway: %v", stopped, cmds)
	}
	if err := w.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Fatalf("second Run: %v", err)
	}
}
