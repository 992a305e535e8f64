package gateway

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gobwas/ws"
	"github.com/gorilla/websocket"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func TestNewValidates(t *testing.T) {
	bad := []Config{
		{MaxPending: -1},
		{WriteTimeout: -time.Second},
		{MaxMessageSize: -1},
		{MessageRate: -1},
		{Registers: []string{""}},
	}
	for i, cfg := range bad {
		if _, err := New(cfg); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("case %d: err = %v, want ErrInvalidConfig", i, err)
		}
	}
	g, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	if g.nodeID == 0 {
		t.Fatal("node id is zero")
	}
	if g.cfg.MaxPending != DefaultMaxPending || g.cfg.PingInterval != DefaultPingInterval || g.cfg.MaxFrameSize != DefaultMaxMessageSize {
		t.Fatalf("defaults not applied: %+v", g.cfg)
	}
}

func TestServeTwice(t *testing.T) {
	tg := startGateway(t, Config{})
	a, _ := net.Listen("tcp", "127.0.0.1:0")
	b, _ := net.Listen("tcp", "127.0.0.1:0")
	defer a.Close()
	defer b.Close()
	eventually(t, "serving", tg.serving.Load)
	if err := tg.Serve(context.Background(), a, b); !errors.Is(err, ErrServing) {
		t.Fatalf("second Serve: %v", err)
	}
}

func TestConnectEventAndWelcome(t *testing.T) {
	tg := startGateway(t, Config{Name: "gw-test"})
	w := dialLink(t, tg.lan, "", "w1", true)
	if got := w.welcome.GetWelcome().GetGateway(); got.GetNodeId() != tg.nodeID || got.GetName() != "gw-test" || got.GetLanAddr() != tg.lan {
		t.Fatalf("welcome gateway = %v", got)
	}
	if !w.welcome.GetWorkersChanged() || !slices.Equal(w.welcome.GetWorkers(), []string{"w1"}) {
		t.Fatalf("welcome workers = %v", w.welcome.GetWorkers())
	}
	dialWS(t, tg.public, "/chat/room?x=1&y=2", http.Header{"X-Token": {"abc"}})
	ev := w.connectEvent()
	c := ev.GetConnect()
	if c.GetPath() != "/chat/room" || c.GetQuery() != "x=1&y=2" || !strings.HasPrefix(c.GetRemoteAddr(), "127.0.0.1:") {
		t.Fatalf("connect = %v", c)
	}
	if !slices.ContainsFunc(c.GetHeaders(), func(h *pb.Header) bool { return h.GetName() == "X-Token" && h.GetValue() == "abc" }) {
		t.Fatalf("headers = %v", c.GetHeaders())
	}
	if ev.GetSeq() != 1 || ev.GetConn() == 0 {
		t.Fatalf("seq %d conn %d", ev.GetSeq(), ev.GetConn())
	}
	if st := tg.Stats(); st.Clients != 1 || st.Workers != 1 || st.Accepted != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestEchoTextAndBinary(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	conn := w.connectEvent().GetConn()

	if err := c.WriteMessage(websocket.TextMessage, []byte("héllo")); err != nil {
		t.Fatal(err)
	}
	if err := c.WriteMessage(websocket.BinaryMessage, []byte{0, 1, 2}); err != nil {
		t.Fatal(err)
	}
	for i, want := range []struct {
		data   string
		binary bool
	}{{"héllo", false}, {"\x00\x01\x02", true}} {
		ev := w.event()
		m := ev.GetMessage()
		if m == nil || string(m.GetData()) != want.data || m.GetBinary() != want.binary || ev.GetConn() != conn || ev.GetSeq() != uint64(i+2) {
			t.Fatalf("event %d = %v", i, ev)
		}
		w.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{
			Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{conn}, Data: m.GetData(), Binary: m.GetBinary()}}})
		w.ack(ev.GetSeq())
	}
	if mt, data := readMsg(t, c); mt != websocket.TextMessage || data != "héllo" {
		t.Fatalf("got %d %q", mt, data)
	}
	if mt, data := readMsg(t, c); mt != websocket.BinaryMessage || data != "\x00\x01\x02" {
		t.Fatalf("got %d %q", mt, data)
	}
}

// rawClient is a gobwas client that writes hand-made frames.
func rawClient(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	conn, br, _, err := ws.Dial(context.Background(), "ws://"+addr+"/")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	if br == nil {
		br = bufio.NewReader(conn)
	}
	return conn, br
}

func writeFrame(t *testing.T, conn net.Conn, op ws.OpCode, fin bool, p []byte) {
	t.Helper()
	f := ws.NewFrame(op, fin, append([]byte(nil), p...))
	if err := ws.WriteFrame(conn, ws.MaskFrameInPlace(f)); err != nil {
		t.Fatal(err)
	}
}

func readFrame(t *testing.T, conn net.Conn, br *bufio.Reader) ws.Frame {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	h, err := ws.ReadHeader(br)
	if err != nil {
		t.Fatalf("read frame: %v", err)
	}
	if h.Masked || h.Length > 125 {
		t.Fatalf("unexpected server frame header %+v", h)
	}
	f := ws.Frame{Header: h, Payload: make([]byte, h.Length)}
	if _, err := io.ReadFull(br, f.Payload); err != nil {
		t.Fatalf("read payload: %v", err)
	}
	return f
}

func TestFragmentedMessageAndPing(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	conn, br := rawClient(t, tg.public)
	w.connectEvent()

	writeFrame(t, conn, ws.OpText, false, []byte("hel"))
	writeFrame(t, conn, ws.OpPing, true, []byte("p1")) // interleaved control frame
	writeFrame(t, conn, ws.OpContinuation, false, []byte("lo "))
	writeFrame(t, conn, ws.OpContinuation, true, []byte("wörld"))

	if f := readFrame(t, conn, br); f.Header.OpCode != ws.OpPong || string(f.Payload) != "p1" {
		t.Fatalf("want pong p1, got %v %q", f.Header.OpCode, f.Payload)
	}
	if m := w.event().GetMessage(); string(m.GetData()) != "hello wörld" || m.GetBinary() {
		t.Fatalf("message = %v", m)
	}
}

func TestCloseHandshakeEchoesCode(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	conn, br := rawClient(t, tg.public)
	w.connectEvent()

	writeFrame(t, conn, ws.OpClose, true, ws.NewCloseFrameBody(4321, "bye"))
	f := readFrame(t, conn, br)
	if f.Header.OpCode != ws.OpClose {
		t.Fatalf("want close, got %v", f.Header.OpCode)
	}
	if code, _ := ws.ParseCloseFrameData(f.Payload); code != 4321 {
		t.Fatalf("echoed code %d", code)
	}
	ev := w.event()
	if cl := ev.GetClose(); cl == nil || cl.GetCode() != 4321 || cl.GetReason() != "bye" {
		t.Fatalf("close event = %v", ev)
	}
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("socket not closed: %v", err)
	}
	eventually(t, "client removed", func() bool { return tg.Stats().Clients == 0 })
}

func TestProtocolErrorCloses(t *testing.T) {
	tg := startGateway(t, Config{MaxMessageSize: 16})
	w := dialLink(t, tg.lan, "", "w1", true)
	conn, br := rawClient(t, tg.public)
	w.connectEvent()

	writeFrame(t, conn, ws.OpText, true, []byte(strings.Repeat("x", 17)))
	f := readFrame(t, conn, br)
	if code, _ := ws.ParseCloseFrameData(f.Payload); f.Header.OpCode != ws.OpClose || code != 1009 {
		t.Fatalf("got %v code %d, want close 1009", f.Header.OpCode, code)
	}
	if cl := w.event().GetClose(); cl.GetCode() != 1009 {
		t.Fatalf("close event code %d", cl.GetCode())
	}
}

func TestSendAllGroupsUids(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	var clients [4]*websocket.Conn
	var conns [4]uint64
	for i := range clients {
		clients[i] = dialWS(t, tg.public, "/", nil)
		conns[i] = w.connectEvent().GetConn()
	}
	expect := func(what string, want ...int) {
		t.Helper()
		for i, c := range clients {
			if slices.Contains(want, i) {
				if _, got := readMsg(t, c); got != what {
					t.Fatalf("client %d got %q, want %q", i, got, what)
				}
			}
		}
	}
	send := func(s *pb.Send) {
		w.commands(&pb.Command{Op: &pb.Command_Send{Send: s}})
	}

	send(&pb.Send{Target: pb.Send_TARGET_ALL, Exclude: []uint64{conns[1]}, Data: []byte("all")})
	expect("all", 0, 2, 3)

	r := w.call(&pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: conns[0], Groups: []string{"a", "b"}}}})
	if r.GetError() != "" {
		t.Fatal(r.GetError())
	}
	w.commands(
		&pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: conns[1], Groups: []string{"a"}}}},
		&pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: conns[2], Groups: []string{"b"}}}},
	)
	send(&pb.Send{Target: pb.Send_TARGET_GROUPS, Groups: []string{"a", "b"}, Exclude: []uint64{conns[2]}, Data: []byte("ab")})
	expect("ab", 0, 1) // client 0 is in both groups but gets it once
	send(&pb.Send{Target: pb.Send_TARGET_GROUPS, Groups: []string{"b"}, Data: []byte("b")})
	expect("b", 0, 2)

	// Two connections bound to one uid; bind replaces a previous uid.
	w.commands(
		&pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: conns[3], Uid: "old"}}},
		&pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: conns[3], Uid: "u1"}}},
		&pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: conns[1], Uid: "u1"}}},
	)
	send(&pb.Send{Target: pb.Send_TARGET_UIDS, Uids: []string{"u1", "old"}, Data: []byte("u1")})
	expect("u1", 1, 3)
	res := w.query(&pb.Query{Kind: pb.Query_KIND_UIDS})
	if res.GetCount() != 1 || res.GetUids()[0].GetUid() != "u1" || !slices.Equal(res.GetUids()[0].GetConns(), []uint64{conns[1], conns[3]}) {
		t.Fatalf("uids = %v", res)
	}

	// The last frames show that nobody got a message meant for others.
	send(&pb.Send{Target: pb.Send_TARGET_ALL, Data: []byte("end")})
	expect("end", 0, 1, 2, 3)

	// Leave, unbind, ungroup.
	w.commands(
		&pb.Command{Op: &pb.Command_LeaveGroup{LeaveGroup: &pb.Groups{Conn: conns[0], Groups: []string{"a"}}}},
		&pb.Command{Op: &pb.Command_UnbindUid{UnbindUid: &pb.Uid{Conn: conns[1], Uid: "other"}}}, // not its uid: no-op
		&pb.Command{Op: &pb.Command_UnbindUid{UnbindUid: &pb.Uid{Conn: conns[3], Uid: "u1"}}},
		&pb.Command{Op: &pb.Command_Ungroup{Ungroup: &pb.Ungroup{Groups: []string{"b"}}}},
	)
	gr := w.query(&pb.Query{Kind: pb.Query_KIND_GROUPS, WithMembers: true})
	if gr.GetCount() != 1 || gr.GetGroups()[0].GetName() != "a" || !slices.Equal(gr.GetGroups()[0].GetConns(), []uint64{conns[1]}) ||
		!slices.Equal(gr.GetGroups()[0].GetUids(), []string{"u1"}) {
		t.Fatalf("groups = %v", gr)
	}
	ur := w.query(&pb.Query{Kind: pb.Query_KIND_UIDS, Uids: []string{"u1"}})
	if ur.GetCount() != 1 || !slices.Equal(ur.GetUids()[0].GetConns(), []uint64{conns[1]}) {
		t.Fatalf("uids after unbind = %v", ur)
	}
	if st := tg.Stats(); st.Groups != 1 || st.UIDs != 1 {
		t.Fatalf("stats = %+v", st)
	}
	// Unknown clients: sends are dropped, single-client commands fail.
	send(&pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{999}, Data: []byte("x")})
	if r := w.call(&pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: 999, Uid: "x"}}}); !strings.Contains(r.GetError(), "client not found") {
		t.Fatalf("bind unknown: %q", r.GetError())
	}
}

func TestSessionAndQueries(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	ev := w.connectEvent()
	conn := ev.GetConn()
	if ev.GetSessionVersion() != 0 || len(ev.GetSession()) != 0 {
		t.Fatalf("fresh session = %v v%d", ev.GetSession(), ev.GetSessionVersion())
	}
	set := func(s *pb.SetSession) {
		t.Helper()
		s.Conn = conn
		if r := w.call(&pb.Command{Op: &pb.Command_SetSession{SetSession: s}}); r.GetError() != "" {
			t.Fatal(r.GetError())
		}
	}
	set(&pb.SetSession{Session: map[string]string{"a": "1", "b": "2"}})
	set(&pb.SetSession{Merge: true, Session: map[string]string{"c": "3"}, Delete: []string{"a"}})

	if err := c.WriteMessage(websocket.TextMessage, []byte("m")); err != nil {
		t.Fatal(err)
	}
	ev = w.event()
	want := map[string]string{"b": "2", "c": "3"}
	if ev.GetSessionVersion() != 2 || !mapsEqual(ev.GetSession(), want) {
		t.Fatalf("event session = %v v%d", ev.GetSession(), ev.GetSessionVersion())
	}
	set(&pb.SetSession{Session: map[string]string{"z": "9"}}) // replace
	w.commands(&pb.Command{Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: conn, Uid: "alice"}}},
		&pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: conn, Groups: []string{"g1"}}}})

	res := w.query(&pb.Query{Kind: pb.Query_KIND_CLIENTS, Conns: []uint64{conn}, WithSession: true, WithMembers: true})
	if res.GetCount() != 1 {
		t.Fatalf("count %d", res.GetCount())
	}
	ci := res.GetClients()[0]
	if ci.GetUid() != "alice" || !mapsEqual(ci.GetSession(), map[string]string{"z": "9"}) || !slices.Equal(ci.GetGroups(), []string{"g1"}) || ci.GetRemoteAddr() == "" {
		t.Fatalf("client info = %v", ci)
	}
	if res := w.query(&pb.Query{Kind: pb.Query_KIND_CLIENTS, Uids: []string{"alice"}, CountOnly: true}); res.GetCount() != 1 || len(res.GetClients()) != 0 {
		t.Fatalf("count only = %v", res)
	}
	if res := w.query(&pb.Query{Kind: pb.Query_KIND_CLIENTS, Groups: []string{"nope"}, CountOnly: true}); res.GetCount() != 0 {
		t.Fatalf("empty group count = %v", res)
	}
	if res := w.query(&pb.Query{Kind: pb.Query_KIND_CLIENTS}); res.GetCount() != 1 {
		t.Fatalf("all clients = %v", res)
	}
	r := w.call(&pb.Command{Op: &pb.Command_Query{Query: &pb.Query{Kind: pb.Query_KIND_CLIENTS, Conns: []uint64{12345}, WithSession: true}}})
	if !strings.Contains(r.GetError(), "client not found") || r.GetResult().GetCount() != 0 {
		t.Fatalf("unknown conn query = %v", r)
	}
	st := w.query(&pb.Query{Kind: pb.Query_KIND_STATS}).GetStats()
	if st.GetClients() != 1 || st.GetGroups() != 1 || st.GetUids() != 1 || st.GetWorkers() != 1 {
		t.Fatalf("stats = %v", st)
	}
	gr := w.query(&pb.Query{Kind: pb.Query_KIND_GROUPS, Groups: []string{"g1", "missing"}})
	if gr.GetCount() != 1 || gr.GetGroups()[0].GetCount() != 1 {
		t.Fatalf("groups = %v", gr)
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if bv, ok := b[k]; !ok || bv != v {
			return false
		}
	}
	return true
}

func TestCloseClientCommand(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	conn := w.connectEvent().GetConn()
	w.commands(sendTo("before", conn), &pb.Command{Op: &pb.Command_CloseClient{CloseClient: &pb.CloseClient{
		Conn: conn, HasData: true, Data: []byte("last"), Code: 4100, Reason: "kicked"}}})
	for _, want := range []string{"before", "last"} {
		if _, got := readMsg(t, c); got != want {
			t.Fatalf("got %q, want %q", got, want)
		}
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4100 || ce.Text != "kicked" {
		t.Fatalf("read err = %v", err)
	}
	if cl := w.event().GetClose(); cl.GetCode() != 4100 {
		t.Fatalf("close event = %v", cl)
	}
	if r := w.call(&pb.Command{Op: &pb.Command_CloseClient{CloseClient: &pb.CloseClient{Conn: conn, Code: 1005}}}); !strings.Contains(r.GetError(), "bad command") {
		t.Fatalf("invalid code: %q", r.GetError())
	}
}

func TestWorkersSetAndRouting(t *testing.T) {
	tg := startGateway(t, Config{})
	w1 := dialLink(t, tg.lan, "", "w1", true)
	push := dialLink(t, tg.lan, "", "p1", false)
	if !slices.Equal(push.welcome.GetWorkers(), []string{"w1"}) {
		t.Fatalf("push welcome workers = %v", push.welcome.GetWorkers())
	}
	w2 := dialLink(t, tg.lan, "", "w2", true)
	for _, l := range []*testLink{w1, push} {
		select {
		case ids := <-l.workers:
			if !slices.Equal(ids, []string{"w1", "w2"}) {
				t.Fatalf("%s got workers %v", l.id, ids)
			}
		case <-time.After(waitFor):
			t.Fatalf("%s got no workers update", l.id)
		}
	}
	// Each client's events go to exactly one worker, consistently.
	const n = 16
	clients := make([]*websocket.Conn, n)
	owner := map[uint64]string{}
	for i := range clients {
		clients[i] = dialWS(t, tg.public, "/", nil)
	}
	collect := func(count int, links ...*testLink) map[uint64][]string {
		t.Helper()
		got := map[uint64][]string{}
		deadline := time.After(waitFor)
		for total := 0; total < count; {
			select {
			case ev := <-links[0].events:
				got[ev.GetConn()] = append(got[ev.GetConn()], links[0].id)
				links[0].ack2(ev.GetSeq()) // a client is read once its connect is acked
				total++
			case ev := <-links[len(links)-1].events:
				got[ev.GetConn()] = append(got[ev.GetConn()], links[len(links)-1].id)
				links[len(links)-1].ack2(ev.GetSeq())
				total++
			case <-deadline:
				t.Fatalf("got %d of %d events", total, count)
			}
		}
		return got
	}
	for conn, ids := range collect(n, w1, w2) {
		owner[conn] = ids[0]
	}
	for _, c := range clients {
		if err := c.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
			t.Fatal(err)
		}
	}
	byOwner := map[string]int{}
	for conn, ids := range collect(n, w1, w2) {
		if len(ids) != 1 || ids[0] != owner[conn] {
			t.Fatalf("conn %d events went to %v, connect to %s", conn, ids, owner[conn])
		}
		byOwner[ids[0]]++
	}
	if byOwner["w1"] == 0 || byOwner["w2"] == 0 {
		t.Fatalf("all clients on one worker: %v", byOwner)
	}
	push.noEvent(20 * time.Millisecond)

	// w2 goes: its clients move to w1.
	w2.close()
	select {
	case ids := <-w1.workers:
		if !slices.Equal(ids, []string{"w1"}) {
			t.Fatalf("workers after w2 left = %v", ids)
		}
	case <-time.After(waitFor):
		t.Fatal("no workers update")
	}
	for _, c := range clients {
		if err := c.WriteMessage(websocket.TextMessage, []byte("y")); err != nil {
			t.Fatal(err)
		}
	}
	got := 0
	for got < n {
		if ev := w1.event(); ev.GetMessage() != nil && string(ev.GetMessage().GetData()) == "y" {
			got++
		}
	}
	if st := tg.Stats(); st.Workers != 1 || st.PushClients != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestUnackedRedelivered(t *testing.T) {
	tg := startGateway(t, Config{})
	w1 := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	w1.connectEvent()
	w1.ack(1)
	for i := range 3 {
		if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "m%d", i)); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		if ev := w1.event(); string(ev.GetMessage().GetData()) != fmt.Sprintf("m%d", i) {
			t.Fatalf("event %d = %v", i, ev)
		}
	}
	w1.ack(2) // m0 handled; m1, m2 not
	w1.flush()
	w2 := dialLink(t, tg.lan, "", "w2", true)
	w1.close()
	for i := 1; i < 3; i++ {
		ev := w2.event()
		if string(ev.GetMessage().GetData()) != fmt.Sprintf("m%d", i) || !ev.GetRedelivered() || ev.GetSeq() != uint64(i) {
			t.Fatalf("redelivered event = %v", ev)
		}
	}
	w2.noEvent(20 * time.Millisecond)
	if st := tg.Stats(); st.EventsRedelivered != 2 {
		t.Fatalf("redelivered = %d", st.EventsRedelivered)
	}
}

func TestSlowConsumerClosed(t *testing.T) {
	tg := startGateway(t, Config{MaxPending: 64 << 10, WriteTimeout: 300 * time.Millisecond})
	w := dialLink(t, tg.lan, "", "w1", true)
	// The slow client never reads, with a tiny receive buffer.
	d := net.Dialer{Control: nil}
	raw, err := d.Dial("tcp", tg.public)
	if err != nil {
		t.Fatal(err)
	}
	_ = raw.(*net.TCPConn).SetReadBuffer(4 << 10)
	if _, _, err := ws.DefaultDialer.Upgrade(raw, mustURL(t, "ws://"+tg.public+"/")); err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	w.connectEvent()
	fast := dialWS(t, tg.public, "/", nil)
	fast2conn := w.connectEvent().GetConn()

	// Send until the slow client's kernel buffers and queue overflow; the
	// fast client must get every message, in order, meanwhile.
	payload := make([]byte, 16<<10)
	sent := 0
	for tg.Stats().SlowConsumer == 0 {
		if sent == 8000 {
			t.Fatal("slow client never closed")
		}
		payload[0], payload[1] = byte(sent), byte(sent>>8)
		w.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: payload, Binary: true}}})
		_ = fast.SetReadDeadline(time.Now().Add(waitFor))
		_, data, err := fast.ReadMessage()
		if err != nil {
			t.Fatalf("fast client after %d messages: %v", sent, err)
		}
		if len(data) != len(payload) || data[0] != byte(sent) || data[1] != byte(sent>>8) {
			t.Fatalf("fast client: message %d corrupt", sent)
		}
		sent++
	}
	eventually(t, "slow consumer removed", func() bool { return tg.Stats().Clients == 1 })
	w.commands(sendTo("still here", fast2conn))
	if _, got := readMsg(t, fast); got != "still here" {
		t.Fatalf("fast client got %q", got)
	}
	if cl := w.event().GetClose(); cl.GetCode() != 4000 {
		t.Fatalf("close event = %v", cl)
	}
	_ = fast.Close() // a client that does not read would hold the drain for closeLinger
}

func TestHeartbeatTimeout(t *testing.T) {
	tg := startGateway(t, Config{PingInterval: 40 * time.Millisecond, PingMaxMissed: 1})
	w := dialLink(t, tg.lan, "", "w1", true)
	conn, br := rawClient(t, tg.public) // never answers pings
	w.connectEvent()
	var sawPing bool
	for {
		f := readFrame(t, conn, br)
		if f.Header.OpCode == ws.OpPing {
			sawPing = true
			continue
		}
		code, _ := ws.ParseCloseFrameData(f.Payload)
		if f.Header.OpCode != ws.OpClose || code != 4001 || !sawPing {
			t.Fatalf("got %v code %d (ping seen: %v)", f.Header.OpCode, code, sawPing)
		}
		break
	}
	// The gateway does not wait for an unresponsive client's answer.
	_ = conn.SetReadDeadline(time.Now().Add(waitFor))
	if _, err := br.ReadByte(); err != io.EOF {
		t.Fatalf("socket not closed: %v", err)
	}
	if cl := w.event().GetClose(); cl.GetCode() != 4001 {
		t.Fatalf("close event = %v", cl)
	}
	if st := tg.Stats(); st.HeartbeatTimeout != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestHeartbeatKeepsAnsweringClient(t *testing.T) {
	tg := startGateway(t, Config{PingInterval: 150 * time.Millisecond, PingMaxMissed: 2})
	c := dialWS(t, tg.public, "/", nil) // gorilla answers pings while reading
	errc := make(chan error, 1)
	go func() {
		_ = c.SetReadDeadline(time.Now().Add(800 * time.Millisecond)) // > 450 ms: pongs keep it
		_, _, err := c.ReadMessage()
		errc <- err
	}()
	err := <-errc
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("client was closed: %v", err)
	}
	if st := tg.Stats(); st.HeartbeatTimeout != 0 || st.Clients != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestRateLimit(t *testing.T) {
	tg := startGateway(t, Config{MessageRate: 1, MessageBurst: 2})
	ackingWorker(t, tg)
	c := dialWS(t, tg.public, "/", nil)
	for range 3 {
		_ = c.WriteMessage(websocket.TextMessage, []byte("x"))
	}
	_ = c.SetReadDeadline(time.Now().Add(waitFor))
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 4002 {
		t.Fatalf("read err = %v", err)
	}
}

func TestMaxConnections503(t *testing.T) {
	tg := startGateway(t, Config{MaxConnections: 1})
	dialWS(t, tg.public, "/", nil)
	eventually(t, "first client attached", func() bool { return tg.Stats().Clients == 1 })
	_, resp, err := websocket.DefaultDialer.Dial("ws://"+tg.public+"/", nil)
	if err == nil || resp == nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("second dial: err %v resp %v", err, resp)
	}
	resp.Body.Close()
	eventually(t, "refusal counted", func() bool { st := tg.Stats(); return st.OverLimit == 1 && st.Rejected == 1 })
}

func TestOnHandshakeRefuses(t *testing.T) {
	tg := startGateway(t, Config{
		AllowedOrigins: []string{"http://ok.example"},
		OnHandshake: func(h *Handshake) error {
			if h.Query().Get("token") != "good" || h.Header("Origin") == "" {
				return &HandshakeError{Status: http.StatusUnauthorized, Reason: "bad token"}
			}
			return nil
		},
	})
	hdr := http.Header{"Origin": {"http://ok.example"}}
	for _, tc := range []struct {
		path   string
		origin string
		status int
	}{
		{"/?token=bad", "http://ok.example", http.StatusUnauthorized},
		{"/?token=good", "http://evil.example", http.StatusForbidden},
	} {
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+tg.public+tc.path, http.Header{"Origin": {tc.origin}})
		if err == nil || resp == nil || resp.StatusCode != tc.status {
			t.Fatalf("%s from %s: err %v resp %v, want %d", tc.path, tc.origin, err, resp, tc.status)
		}
		resp.Body.Close()
	}
	dialWS(t, tg.public, "/?token=good", hdr)
}

func TestWrongSecretRefused(t *testing.T) {
	tg := startGateway(t, Config{Secret: "s3cret"})
	_, err := tryLink(t, tg.lan, "wrong", "w1", true)
	if status.Code(err) != codes.Unauthenticated {
		t.Fatalf("err = %v, want Unauthenticated", err)
	}
	dialLink(t, tg.lan, "s3cret", "w2", true)
	if st := tg.Stats(); st.LinksRejected != 1 || st.Workers != 1 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestLinkWithoutHelloRefused(t *testing.T) {
	tg := startGateway(t, Config{})
	_, err := tryLink(t, tg.lan, "", "", true)
	if status.Code(err) != codes.InvalidArgument {
		t.Fatalf("err = %v, want InvalidArgument", err)
	}
}

func TestShutdownClosesClientsGoingAway(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	var clients []*websocket.Conn
	for range 3 {
		clients = append(clients, dialWS(t, tg.public, "/", nil))
		w.connectEvent()
	}
	errs := make(chan error, len(clients))
	for _, c := range clients {
		go func() {
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			_, _, err := c.ReadMessage()
			errs <- err
		}()
	}
	start := time.Now()
	if err := tg.stop(t); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("shutdown took %v", d)
	}
	for range clients {
		var ce *websocket.CloseError
		if err := <-errs; !errors.As(err, &ce) || ce.Code != 1001 {
			t.Fatalf("client read err = %v, want close 1001", err)
		}
	}
	select {
	case err := <-w.recvErr:
		if err != io.EOF {
			t.Fatalf("link ended with %v, want EOF", err)
		}
	case <-time.After(waitFor):
		t.Fatal("link not ended")
	}
	// The Close events went out before the link ended.
	closes := 0
	for len(w.events) > 0 {
		if (<-w.events).GetClose().GetCode() == 1001 {
			closes++
		}
	}
	if closes != 3 {
		t.Fatalf("worker got %d Close events, want 3", closes)
	}
}

func TestCloseClientImmediateAndBadSend(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	c := dialWS(t, tg.public, "/", nil)
	conn := w.connectEvent().GetConn()
	if r := w.call(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Data: []byte("x")}}}); !strings.Contains(r.GetError(), "bad command") {
		t.Fatalf("send without target: %q", r.GetError())
	}
	r := w.call(&pb.Command{Op: &pb.Command_CloseClient{CloseClient: &pb.CloseClient{Conn: conn, Immediate: true, HasData: true, Data: []byte("bye")}}})
	if r.GetError() != "" {
		t.Fatal(r.GetError())
	}
	if _, got := readMsg(t, c); got != "bye" {
		t.Fatalf("last message %q", got)
	}
	_, _, err := c.ReadMessage()
	var ce *websocket.CloseError
	if !errors.As(err, &ce) || ce.Code != 1000 {
		t.Fatalf("read err = %v, want close 1000", err)
	}
	if cl := w.event().GetClose(); cl.GetCode() != 1000 {
		t.Fatalf("close event = %v", cl)
	}
	if r := w.call(&pb.Command{Op: &pb.Command_CloseClient{CloseClient: &pb.CloseClient{Conn: conn}}}); !strings.Contains(r.GetError(), "client not found") {
		t.Fatalf("close of a gone client: %q", r.GetError())
	}
}
