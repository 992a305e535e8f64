package gateway

import (
	"encoding/hex"
	"errors"
	"fmt"
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/internal/gwproto"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// startCompatGateway starts a gateway with the GatewayWorker listener on
// loopback; it returns the gateway and the listener's address.
func startCompatGateway(t *testing.T, cfg Config, secret string) (*testGateway, string) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.GatewayWorker.Listener = lis
	cfg.GatewayWorker.SecretKey = secret
	return startGateway(t, cfg), lis.Addr().String()
}

// phpPeer speaks GatewayProtocol as PHP's GatewayClient (or, after
// workerConnect, a BusinessWorker) does: every packet is built field by
// field here, not with the package under test.
type phpPeer struct {
	t  *testing.T
	nc net.Conn
	r  *gwproto.Reader
}

func dialPHP(t *testing.T, addr string) *phpPeer {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, waitFor)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &phpPeer{t: t, nc: nc, r: gwproto.NewReader(nc, 0)}
}

// pack is PHP's pack("NCNnNnNCnN", ...) . ext . body with GatewayProtocol's
// flag rule: FLAG_BODY_IS_SCALAR (1) is set for a string body.
func pack(cmd byte, connID uint32, flag byte, ext, body string) []byte {
	b := make([]byte, 0, 28+len(ext)+len(body))
	n := uint32(28 + len(ext) + len(body))
	b = append(b, byte(n>>24), byte(n>>16), byte(n>>8), byte(n), cmd)
	b = append(b, make([]byte, 12)...) // local_ip, local_port, client_ip, client_port
	b = append(b, byte(connID>>24), byte(connID>>16), byte(connID>>8), byte(connID))
	b = append(b, flag, 0, 0)
	e := uint32(len(ext))
	b = append(b, byte(e>>24), byte(e>>16), byte(e>>8), byte(e))
	return append(append(b, ext...), body...)
}

func (p *phpPeer) write(b []byte) {
	p.t.Helper()
	if _, err := p.nc.Write(b); err != nil {
		p.t.Fatalf("php write: %v", err)
	}
}

// auth sends CMD_GATEWAY_CLIENT_CONNECT, as GatewayClient before each request.
func (p *phpPeer) auth(secret string) {
	p.write(pack(gwproto.CmdGatewayClientConnect, 0, 1, "", `{"secret_key":"`+secret+`"}`))
}

func (p *phpPeer) cmd(cmd byte, connID uint32, ext, body string) {
	p.t.Helper()
	p.write(pack(cmd, connID, 1, ext, body))
}

// call sends a query and returns the serialized reply.
func (p *phpPeer) call(cmd byte, connID uint32, ext string) string {
	p.t.Helper()
	p.cmd(cmd, connID, ext, "")
	_ = p.nc.SetReadDeadline(time.Now().Add(waitFor))
	b, err := gwproto.ReadReply(p.nc, 0)
	if err != nil {
		p.t.Fatalf("reply to cmd %d: %v", cmd, err)
	}
	return string(b)
}

// closed reports whether the gateway closed the connection.
func (p *phpPeer) closed() bool {
	_ = p.nc.SetReadDeadline(time.Now().Add(waitFor))
	var b [1]byte
	_, err := p.nc.Read(b[:])
	return errors.Is(err, io.EOF) || (err != nil && !strings.Contains(err.Error(), "timeout"))
}

func phpUnmarshal(t *testing.T, s string) gwproto.Value {
	t.Helper()
	v, err := gwproto.Unmarshal([]byte(s))
	if err != nil {
		t.Fatalf("unmarshal %q: %v", s, err)
	}
	return v
}

// clients connects n WebSocket clients and returns them with their conn
// sequences (learned from a Go worker's Connect events).
func compatClients(t *testing.T, tg *testGateway, w *testLink, n int) ([]*websocket.Conn, []uint32) {
	t.Helper()
	var wss []*websocket.Conn
	var ids []uint32
	for range n {
		ws := dialWS(t, tg.public, "/", nil)
		ev := w.connectEvent()
		wss = append(wss, ws)
		ids = append(ids, uint32(ev.GetConn()))
	}
	return wss, ids
}

// noMsg checks that ws has nothing queued: a marker sent after the
// earlier commands on the same PHP connection is the next message.
func noMsg(t *testing.T, p *phpPeer, ws *websocket.Conn, id uint32) {
	t.Helper()
	p.cmd(gwproto.CmdSendToOne, id, "", "marker")
	if _, m := readMsg(t, ws); m != "marker" {
		t.Fatalf("unexpected message %q", m)
	}
}

// TestGatewayClientCommands applies every GatewayClient command through
// the compatibility listener and checks the effect on real WebSocket
// clients and through a Go worker's queries.
func TestGatewayClientCommands(t *testing.T) {
	tg, addr := startCompatGateway(t, Config{}, "sk")
	w := dialLink(t, tg.lan, "", "go-worker", true)
	wss, ids := compatClients(t, tg, w, 3)
	p := dialPHP(t, addr)
	p.auth("sk")

	// sendToClient
	p.cmd(gwproto.CmdSendToOne, ids[0], "", "one")
	if _, m := readMsg(t, wss[0]); m != "one" {
		t.Fatalf("sendToClient: %q", m)
	}
	// joinGroup, bindUid; seen by a Go query.
	p.cmd(gwproto.CmdJoinGroup, ids[0], "room", "")
	p.cmd(gwproto.CmdJoinGroup, ids[1], "room", "")
	p.cmd(gwproto.CmdBindUID, ids[1], "u1", "")
	p.cmd(gwproto.CmdBindUID, ids[2], "u1", "")
	if got := p.call(gwproto.CmdGetClientCountByGroup, 0, "room"); got != "i:2;" {
		t.Fatalf("count room: %s", got)
	}
	res := w.query(&pb.Query{Kind: pb.Query_KIND_CLIENTS, Uids: []string{"u1"}})
	if res.GetCount() != 2 {
		t.Fatalf("Go query of uid u1: %d clients", res.GetCount())
	}
	// sendToGroup with an exclude list ({"2":2} as PHP writes [id => id]).
	p.cmd(gwproto.CmdSendToGroup, 0, fmt.Sprintf(`{"group":["room"],"exclude":{"%d":%d}}`, ids[0], ids[0]), "grp")
	if _, m := readMsg(t, wss[1]); m != "grp" {
		t.Fatalf("sendToGroup: %q", m)
	}
	noMsg(t, p, wss[0], ids[0])
	// sendToUid (json list, a number among strings).
	p.cmd(gwproto.CmdSendToUID, 0, `["u1",42]`, "uid")
	for _, i := range []int{1, 2} {
		if _, m := readMsg(t, wss[i]); m != "uid" {
			t.Fatalf("sendToUid client %d: %q", i, m)
		}
	}
	// sendToAll with exclude, then to listed connections.
	p.cmd(gwproto.CmdSendToAll, 0, fmt.Sprintf(`{"exclude":{"%d":%d}}`, ids[2], ids[2]), "all")
	for _, i := range []int{0, 1} {
		if _, m := readMsg(t, wss[i]); m != "all" {
			t.Fatalf("sendToAll client %d: %q", i, m)
		}
	}
	noMsg(t, p, wss[2], ids[2])
	p.cmd(gwproto.CmdSendToAll, 0, fmt.Sprintf(`{"connections":{"%d":%d}}`, ids[2], ids[2]), "listed")
	if _, m := readMsg(t, wss[2]); m != "listed" {
		t.Fatalf("sendToAll listed: %q", m)
	}
	noMsg(t, p, wss[0], ids[0])
	// sendToAll to everyone, with $raw = true (a pre-encoded text frame).
	p.write(pack(gwproto.CmdSendToAll, 0, 1|gwproto.FlagNotCallEncode, "", "\x81\x03raw"))
	for i := range wss {
		if _, m := readMsg(t, wss[i]); m != "raw" {
			t.Fatalf("raw sendToAll client %d: %q", i, m)
		}
	}

	// Queries, in PHP's serialize() form.
	if got := p.call(gwproto.CmdIsOnline, ids[0], ""); got != "i:1;" {
		t.Fatalf("isOnline: %s", got)
	}
	if got := p.call(gwproto.CmdIsOnline, 999999, ""); got != "i:0;" {
		t.Fatalf("isOnline unknown: %s", got)
	}
	if got := p.call(gwproto.CmdGetClientIDByUID, 0, "u1"); got != fmt.Sprintf("a:2:{i:0;i:%d;i:1;i:%d;}", ids[1], ids[2]) {
		t.Fatalf("getClientIdByUid: %s", got)
	}
	if got := p.call(gwproto.CmdBatchGetClientIDByUID, 0, `["u1","nobody"]`); got != fmt.Sprintf(`a:2:{s:2:"u1";a:2:{i:0;i:%d;i:1;i:%d;}s:6:"nobody";a:0:{}}`, ids[1], ids[2]) {
		t.Fatalf("batchGetClientIdByUid: %s", got)
	}
	if got := p.call(gwproto.CmdGetClientCountByGroup, 0, ""); got != "i:3;" {
		t.Fatalf("all count: %s", got)
	}
	if got := p.call(gwproto.CmdBatchGetClientCountByGroup, 0, `["room","none"]`); got != `a:2:{s:4:"room";i:2;s:4:"none";i:0;}` {
		t.Fatalf("batch counts: %s", got)
	}
	if got := p.call(gwproto.CmdGetGroupIDList, 0, ""); got != `a:1:{i:0;s:4:"room";}` {
		t.Fatalf("group id list: %s", got)
	}
	sel := phpUnmarshal(t, p.call(gwproto.CmdSelect, 0, `{"fields":["uid","groups"],"where":{"groups":["room"]}}`)).(*gwproto.Array)
	if sel.Len() != 2 {
		t.Fatalf("select: %v", gwproto.MustMarshal(sel))
	}
	row, _ := sel.Get(gwproto.IntKey(int64(ids[1])))
	if uid, _ := row.(*gwproto.Array).Get(gwproto.StrKey("uid")); uid != "u1" {
		t.Fatalf("select uid: %v", uid)
	}
	if all := phpUnmarshal(t, p.call(gwproto.CmdSelect, 0, `{"fields":["uid"],"where":[]}`)).(*gwproto.Array); all.Len() != 3 {
		t.Fatalf("select all: %d", all.Len())
	}

	// Sessions: set (PHP bytes kept), read back, merged, visible to Go.
	p.cmd(gwproto.CmdSetSession, ids[0], `a:2:{s:4:"name";s:3:"ann";s:3:"age";i:7;}`, "")
	if got := p.call(gwproto.CmdGetSessionByClientID, ids[0], ""); got != `a:2:{s:4:"name";s:3:"ann";s:3:"age";i:7;}` {
		t.Fatalf("getSession: %s", got)
	}
	p.cmd(gwproto.CmdUpdateSession, ids[0], `a:1:{s:4:"room";s:1:"r";}`, "")
	if got := p.call(gwproto.CmdGetSessionByClientID, ids[0], ""); got != `a:3:{s:4:"name";s:3:"ann";s:3:"age";i:7;s:4:"room";s:1:"r";}` {
		t.Fatalf("getSession after update: %s", got)
	}
	info := w.query(&pb.Query{Kind: pb.Query_KIND_CLIENTS, Conns: []uint64{uint64(ids[0])}, WithSession: true}).GetClients()[0]
	if s := info.GetSession(); s["name"] != "ann" || s["room"] != "r" || s["age"] != "" {
		t.Fatalf("Go view of the PHP session: %v", s)
	}
	// A Go worker's change reaches PHP; PHP's int survives.
	w.call(&pb.Command{Op: &pb.Command_SetSession{SetSession: &pb.SetSession{Conn: uint64(ids[0]), Merge: true, Session: map[string]string{"name": "bob"}, Delete: []string{"room"}}}})
	if got := p.call(gwproto.CmdGetSessionByClientID, ids[0], ""); got != `a:2:{s:4:"name";s:3:"bob";s:3:"age";i:7;}` {
		t.Fatalf("getSession after Go update: %s", got)
	}
	if got := p.call(gwproto.CmdGetSessionByClientID, ids[1], ""); got != "a:0:{}" {
		t.Fatalf("empty session: %s", got)
	}
	if got := p.call(gwproto.CmdGetSessionByClientID, 999999, ""); got != "N;" {
		t.Fatalf("unknown session: %s", got)
	}
	all := phpUnmarshal(t, p.call(gwproto.CmdGetAllClientSessions, 0, "")).(*gwproto.Array)
	if s, _ := all.Get(gwproto.IntKey(int64(ids[0]))); s != `a:2:{s:4:"name";s:3:"bob";s:3:"age";i:7;}` || all.Len() != 3 {
		t.Fatalf("all sessions: %s", gwproto.MustMarshal(all))
	}
	if grp := phpUnmarshal(t, p.call(gwproto.CmdGetClientSessionsByGroup, 0, "room")).(*gwproto.Array); grp.Len() != 2 {
		t.Fatalf("sessions by group: %d", grp.Len())
	}

	// leave, ungroup, unbind.
	p.cmd(gwproto.CmdLeaveGroup, ids[0], "room", "")
	if got := p.call(gwproto.CmdGetClientCountByGroup, 0, "room"); got != "i:1;" {
		t.Fatalf("after leave: %s", got)
	}
	p.cmd(gwproto.CmdUngroup, 0, "room", "")
	if got := p.call(gwproto.CmdGetGroupIDList, 0, ""); got != "a:0:{}" {
		t.Fatalf("after ungroup: %s", got)
	}
	p.cmd(gwproto.CmdUnbindUID, ids[1], "u1", "")
	if got := p.call(gwproto.CmdGetClientIDByUID, 0, "u1"); got != fmt.Sprintf("a:1:{i:0;i:%d;}", ids[2]) {
		t.Fatalf("after unbind: %s", got)
	}

	// kick with a last message, destroy.
	p.cmd(gwproto.CmdKick, ids[0], "", "bye")
	if _, m := readMsg(t, wss[0]); m != "bye" {
		t.Fatalf("kick message: %q", m)
	}
	_ = wss[0].SetReadDeadline(time.Now().Add(waitFor))
	if _, _, err := wss[0].ReadMessage(); !websocket.IsCloseError(err, websocket.CloseNormalClosure) {
		t.Fatalf("kick: %v", err)
	}
	p.cmd(gwproto.CmdDestroy, ids[1], "", "")
	_ = wss[1].SetReadDeadline(time.Now().Add(waitFor))
	if _, _, err := wss[1].ReadMessage(); err == nil {
		t.Fatal("destroyed client still open")
	}
	eventually(t, "two clients gone", func() bool { return p.call(gwproto.CmdGetClientCountByGroup, 0, "") == "i:1;" })
}

// TestGatewayClientAuth: with a secret, requests without the auth packet,
// or with a wrong secret_key, close the connection; the gateway serves on.
func TestGatewayClientAuth(t *testing.T) {
	tg, addr := startCompatGateway(t, Config{}, "sk")
	w := dialLink(t, tg.lan, "", "go-worker", true)
	wss, ids := compatClients(t, tg, w, 1)

	p := dialPHP(t, addr)
	p.cmd(gwproto.CmdSendToAll, 0, "", "sneaky")
	if !p.closed() {
		t.Fatal("unauthenticated request accepted")
	}
	p = dialPHP(t, addr)
	p.auth("wrong")
	if !p.closed() {
		t.Fatal("wrong secret_key accepted")
	}
	p = dialPHP(t, addr)
	p.write(pack(gwproto.CmdWorkerConnect, 0, 1, "", `{"worker_key":"w:0","secret_key":"nope"}`))
	if !p.closed() {
		t.Fatal("BusinessWorker with a wrong secret_key accepted")
	}
	// A persistent GatewayClient connection re-authenticates before each request.
	p = dialPHP(t, addr)
	for i := range 3 {
		p.auth("sk")
		p.cmd(gwproto.CmdSendToOne, ids[0], "", fmt.Sprint(i))
		if _, m := readMsg(t, wss[0]); m != fmt.Sprint(i) {
			t.Fatalf("message %d: %q", i, m)
		}
	}
}

// TestGatewayWorkerHostileInput: malformed packets close only that peer.
func TestGatewayWorkerHostileInput(t *testing.T) {
	cfg := Config{}
	cfg.GatewayWorker.MaxPacket = 1 << 16
	tg, addr := startCompatGateway(t, cfg, "")
	w := dialLink(t, tg.lan, "", "go-worker", true)
	wss, ids := compatClients(t, tg, w, 1)
	for name, b := range map[string][]byte{
		"pack_len below header": {0, 0, 0, 4, 0, 0, 0, 0},
		"pack_len over limit":   {0x7f, 0, 0, 0},
		"ext_len past end":      pack(gwproto.CmdSendToAll, 0, 1, "", "")[:24:24],
	} {
		if name == "ext_len past end" {
			b = append(b, 0, 0, 0, 9) // ext_len 9 in a 28-byte packet
		}
		p := dialPHP(t, addr)
		p.write(b)
		if !p.closed() {
			t.Errorf("%s: connection left open", name)
		}
	}
	// Garbage inside valid packets is skipped; the connection serves on.
	p := dialPHP(t, addr)
	p.cmd(gwproto.CmdSendToGroup, 0, `{"group":`, "x")
	p.cmd(gwproto.CmdSendToUID, 0, `[[1]]`, "x")
	p.cmd(gwproto.CmdSelect, 0, `nope`, "")
	p.write(pack(gwproto.CmdSendToOne, ids[0], 0, "", "O:8:\"stdClass\":0:{}"))
	p.cmd(99, 0, "", "")
	p.cmd(gwproto.CmdSendToOne, ids[0], "", "still here")
	if _, m := readMsg(t, wss[0]); m != "still here" {
		t.Fatalf("after garbage: %q", m)
	}
}

// phpWorker is a BusinessWorker's side of the link, in bytes.
type phpWorker struct {
	*phpPeer
}

func linkPHPWorker(t *testing.T, addr, secret, key string) *phpWorker {
	t.Helper()
	p := dialPHP(t, addr)
	p.write(pack(gwproto.CmdWorkerConnect, 0, 1, "", `{"worker_key":"`+key+`","secret_key":"`+secret+`"}`))
	return &phpWorker{p}
}

func (w *phpWorker) next() gwproto.Packet {
	w.t.Helper()
	for {
		_ = w.nc.SetReadDeadline(time.Now().Add(waitFor))
		pkt, err := w.r.ReadPacket()
		if err != nil {
			w.t.Fatalf("php worker read: %v", err)
		}
		if pkt.Cmd != gwproto.CmdPing {
			pkt.Ext = append([]byte(nil), pkt.Ext...)
			pkt.Body = append([]byte(nil), pkt.Body...)
			return pkt
		}
	}
}

// TestPHPBusinessWorker: a PHP BusinessWorker linked to the gateway gets
// the client's events in GatewayWorker's format, and its commands (on the
// same connection, as BusinessWorker sends them) are applied.
func TestPHPBusinessWorker(t *testing.T) {
	tg, addr := startCompatGateway(t, Config{}, "sk")
	w := linkPHPWorker(t, addr, "sk", "ChatBusinessWorker:0")
	eventually(t, "PHP worker linked", func() bool { return tg.Stats().Workers == 1 })

	hdr := http.Header{"Cookie": {"sid=abc; theme=dark"}, "X-Token": {"t1"}}
	ws := dialWS(t, tg.public, "/chat?room=r1&x=1", hdr)
	on := w.next()
	if on.Cmd != gwproto.CmdOnConnect || on.Flag&gwproto.FlagBodyIsScalar == 0 || len(on.Body) != 0 {
		t.Fatalf("first packet: %+v", on.Header)
	}
	ip, port, _ := gwproto.ParseAddr(addr)
	if on.LocalIP != ip || on.LocalPort != port || on.ClientIP != 0x7f000001 || on.ClientPort == 0 || on.ConnectionID == 0 {
		t.Fatalf("header: %+v", on.Header)
	}
	cid := gwproto.ClientID{IP: on.LocalIP, Port: on.LocalPort, ConnectionID: on.ConnectionID}
	if s := cid.String(); len(s) != 20 || !strings.HasPrefix(s, "7f000001") {
		t.Fatalf("client id %s", s)
	}
	wsc := w.next()
	if wsc.Cmd != gwproto.CmdOnWebSocketConnect || wsc.Flag&gwproto.FlagBodyIsScalar != 0 || wsc.ConnectionID != on.ConnectionID {
		t.Fatalf("websocket connect: %+v", wsc.Header)
	}
	d := phpUnmarshal(t, string(wsc.Body)).(*gwproto.Array)
	get, _ := d.Get(gwproto.StrKey("get"))
	if v, _ := get.(*gwproto.Array).Get(gwproto.StrKey("room")); v != "r1" {
		t.Fatalf("get: %s", gwproto.MustMarshal(get))
	}
	srv, _ := d.Get(gwproto.StrKey("server"))
	for k, want := range map[string]string{"REQUEST_URI": "/chat?room=r1&x=1", "QUERY_STRING": "room=r1&x=1", "HTTP_X_TOKEN": "t1", "REMOTE_ADDR": "127.0.0.1"} {
		if v, _ := srv.(*gwproto.Array).Get(gwproto.StrKey(k)); v != want {
			t.Errorf("server[%s] = %v, want %q", k, v, want)
		}
	}
	cookie, _ := d.Get(gwproto.StrKey("cookie"))
	if v, _ := cookie.(*gwproto.Array).Get(gwproto.StrKey("theme")); v != "dark" {
		t.Fatalf("cookie: %s", gwproto.MustMarshal(cookie))
	}

	// onMessage; the worker answers the current client, joins it to a
	// group and sets $_SESSION (CMD_SET_SESSION), all on its connection.
	if err := ws.WriteMessage(websocket.TextMessage, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	msg := w.next()
	if msg.Cmd != gwproto.CmdOnMessage || string(msg.Body) != "hello" || msg.ConnectionID != on.ConnectionID || len(msg.Ext) != 0 {
		t.Fatalf("message: %+v %q ext %q", msg.Header, msg.Body, msg.Ext)
	}
	w.cmd(gwproto.CmdSendToOne, msg.ConnectionID, "", "echo:hello")
	w.cmd(gwproto.CmdJoinGroup, msg.ConnectionID, "r1", "")
	w.cmd(gwproto.CmdSetSession, msg.ConnectionID, `a:1:{s:4:"user";s:3:"ann";}`, "")
	if _, m := readMsg(t, ws); m != "echo:hello" {
		t.Fatalf("reply: %q", m)
	}
	// The next event carries the session bytes as PHP wrote them.
	if err := ws.WriteMessage(websocket.TextMessage, []byte("again")); err != nil {
		t.Fatal(err)
	}
	msg = w.next()
	if string(msg.Ext) != `a:1:{s:4:"user";s:3:"ann";}` {
		t.Fatalf("session in event: %q", msg.Ext)
	}
	w.cmd(gwproto.CmdSendToGroup, 0, `{"group":["r1"],"exclude":null}`, "to-group")
	if _, m := readMsg(t, ws); m != "to-group" {
		t.Fatalf("group: %q", m)
	}
	_ = ws.Close()
	cl := w.next()
	if cl.Cmd != gwproto.CmdOnClose || cl.ConnectionID != on.ConnectionID {
		t.Fatalf("close: %+v", cl.Header)
	}
}

// TestMixedWorkers: a Go worker and a PHP BusinessWorker on one gateway
// share the clients by rendezvous hashing; each client's events go to one
// of them; when the PHP worker goes, its clients' events go to the Go one.
func TestMixedWorkers(t *testing.T) {
	tg, addr := startCompatGateway(t, Config{}, "")
	gw := dialLink(t, tg.lan, "", "go-worker", true)
	pw := linkPHPWorker(t, addr, "", "w:0")
	eventually(t, "two workers", func() bool { return tg.Stats().Workers == 2 })

	const n = 24
	wss := make([]*websocket.Conn, n)
	for i := range wss {
		wss[i] = dialWS(t, tg.public, "/", nil)
	}
	goConns := map[uint64]bool{}
	phpConns := map[uint64]bool{}
	// Go gets Connect events; PHP gets two packets per connect.
	deadline := time.Now().Add(waitFor)
	for len(goConns)+len(phpConns) < n && time.Now().Before(deadline) {
		select {
		case ev := <-gw.events:
			goConns[ev.GetConn()] = true
			gw.ack2(ev.GetSeq()) // a client is read once its connect is acked
		default:
			_ = pw.nc.SetReadDeadline(time.Now().Add(20 * time.Millisecond))
			pkt, err := pw.r.ReadPacket()
			if err == nil && pkt.Cmd == gwproto.CmdOnConnect {
				phpConns[uint64(pkt.ConnectionID)] = true
			}
		}
	}
	if len(goConns) == 0 || len(phpConns) == 0 || len(goConns)+len(phpConns) != n {
		t.Fatalf("go %d, php %d of %d clients", len(goConns), len(phpConns), n)
	}
	for c := range goConns {
		if phpConns[c] {
			t.Fatalf("client %d went to both workers", c)
		}
	}
	// The PHP worker goes: its clients' next messages reach the Go worker.
	_ = pw.nc.Close()
	eventually(t, "PHP worker unlinked", func() bool { return tg.Stats().Workers == 1 })
	for i, ws := range wss {
		if err := ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i))); err != nil {
			t.Fatal(err)
		}
	}
	seen := 0
	for seen < n {
		ev := gw.event()
		if ev.GetMessage() != nil {
			seen++
		}
	}
}

// TestPHPWorkerStuck: a BusinessWorker that stops reading is unlinked after
// WriteTimeout; the events not written to it go to the Go worker.
func TestPHPWorkerStuck(t *testing.T) {
	cfg := Config{}
	cfg.GatewayWorker.WriteTimeout = 300 * time.Millisecond
	tg, addr := startCompatGateway(t, cfg, "")
	pw := linkPHPWorker(t, addr, "", "w:0")
	eventually(t, "PHP worker linked", func() bool { return tg.Stats().Workers == 1 })
	ws := dialWS(t, tg.public, "/", nil)
	if pkt := pw.next(); pkt.Cmd != gwproto.CmdOnConnect {
		t.Fatalf("%+v", pkt.Header)
	}
	// Flood: the PHP worker reads nothing more, its socket fills up. The
	// gateway stops reading the client when its events wait (flow
	// control), so the flood runs on its own goroutine and goes on once a
	// worker takes the events.
	big := strings.Repeat("x", 64<<10)
	const n = 200
	flood := make(chan error, 1)
	go func() {
		for range n {
			if err := ws.WriteMessage(websocket.TextMessage, []byte(big)); err != nil {
				flood <- err
				return
			}
		}
		flood <- ws.WriteMessage(websocket.TextMessage, []byte("after"))
	}()
	eventuallyWithin(t, 20*time.Second, "stuck PHP worker unlinked", func() bool { return !pwLinked(tg) })
	gw := dialLink(t, tg.lan, "", "go-worker", true)
	// The events the PHP worker had not taken, and the later ones, reach
	// the Go worker: the last one is "after".
	for {
		ev := gw.event()
		gw.ack(ev.GetSeq()) // rerouted events must not fill the Go worker's window
		if m := ev.GetMessage(); m != nil && string(m.GetData()) == "after" {
			break
		}
	}
	if err := <-flood; err != nil {
		t.Fatalf("client write: %v", err)
	}
}

func pwLinked(tg *testGateway) bool {
	ws := tg.router.workers.Load()
	for _, l := range ws.links {
		if strings.HasPrefix(l.id, "gatewayworker:") {
			return true
		}
	}
	return false
}

// TestCompatConfig: an address that cannot be a GatewayWorker client id
// prefix is refused.
func TestCompatConfig(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	for _, adv := range []string{"0.0.0.0:2900", "[::1]:2900", "nope"} {
		if _, err := (GatewayWorkerConfig{Listener: lis, Advertise: adv}).withDefaults(); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("Advertise %q: %v", adv, err)
		}
	}
	tg, addr := startCompatGateway(t, Config{}, "")
	ip, port, _ := gwproto.ParseAddr(addr)
	s, err := tg.ClientIDToGatewayWorker(clientid.ID{Node: tg.nodeID, Conn: 5}.String())
	if err != nil || s != (gwproto.ClientID{IP: ip, Port: port, ConnectionID: 5}).String() {
		t.Fatalf("%s %v", s, err)
	}
	if _, err := hex.DecodeString(s); err != nil {
		t.Fatal(err)
	}
	if _, err := tg.ClientIDToGatewayWorker(clientid.ID{Node: tg.nodeID + 1, Conn: 5}.String()); !errors.Is(err, ErrClientNotFound) {
		t.Fatal(err)
	}
	// And back, for a connection that exists.
	w := dialLink(t, tg.lan, "", "go-worker", true)
	_, ids := compatClients(t, tg, w, 1)
	s, _ = tg.ClientIDToGatewayWorker(clientid.ID{Node: tg.nodeID, Conn: uint64(ids[0])}.String())
	back, err := tg.ClientIDFromGatewayWorker(s)
	want := clientid.ID{Node: tg.nodeID, Conn: uint64(ids[0])}.String()
	if err != nil || back != want {
		t.Fatalf("from %s: %s %v, want %s", s, back, err, want)
	}
	if _, err := tg.ClientIDToGatewayWorker("xyz"); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("bad client id: %v", err)
	}
	other := gwproto.ClientID{IP: ip, Port: port + 1, ConnectionID: 1}.String()
	if _, err := tg.ClientIDFromGatewayWorker(other); !errors.Is(err, ErrClientNotFound) {
		t.Fatalf("other gateway's id: %v", err)
	}
	if _, err := tg.ClientIDFromGatewayWorker("xyz"); !errors.Is(err, ErrBadCommand) {
		t.Fatalf("bad id: %v", err)
	}
}

// TestGatewayClientOrderAcrossConnections: GatewayClient opens a new
// connection per request; a query on a new connection sees the command
// sent just before on another one (as with PHP's single-threaded Gateway).
func TestGatewayClientOrderAcrossConnections(t *testing.T) {
	tg, addr := startCompatGateway(t, Config{}, "sk")
	w := dialLink(t, tg.lan, "", "go-worker", true)
	_, ids := compatClients(t, tg, w, 1)
	for i := range 200 {
		a := dialPHP(t, addr)
		uid := fmt.Sprint("u", i)
		a.write(append(pack(gwproto.CmdGatewayClientConnect, 0, 1, "", `{"secret_key":"sk"}`), pack(gwproto.CmdBindUID, ids[0], 1, uid, "")...))
		b := dialPHP(t, addr)
		b.auth("sk")
		if got := b.call(gwproto.CmdGetClientIDByUID, 0, uid); got != fmt.Sprintf("a:1:{i:0;i:%d;}", ids[0]) {
			t.Fatalf("round %d: query on a new connection did not see the bind sent before: %s", i, got)
		}
		_ = a.nc.Close()
		_ = b.nc.Close()
	}
}

// TestGatewayWorkerHeartbeatAndAuthTimeout: a linked BusinessWorker gets
// CMD_PING every WorkerPing; a peer silent past AuthTimeout is closed.
func TestGatewayWorkerHeartbeatAndAuthTimeout(t *testing.T) {
	cfg := Config{}
	cfg.GatewayWorker.WorkerPing = 50 * time.Millisecond
	cfg.GatewayWorker.AuthTimeout = 200 * time.Millisecond
	_, addr := startCompatGateway(t, cfg, "")
	w := linkPHPWorker(t, addr, "", "w:0")
	for range 3 {
		_ = w.nc.SetReadDeadline(time.Now().Add(waitFor))
		pkt, err := w.r.ReadPacket()
		if err != nil || pkt.Cmd != gwproto.CmdPing || pkt.Len() != gwproto.HeaderLen {
			t.Fatalf("want CMD_PING, got %+v %v", pkt.Header, err)
		}
	}
	silent := dialPHP(t, addr)
	start := time.Now()
	if !silent.closed() {
		t.Fatal("silent peer left open")
	}
	if d := time.Since(start); d < 150*time.Millisecond {
		t.Fatalf("closed after %v, before AuthTimeout", d)
	}
}

// TestPHPWorkerShutdown: on shutdown a linked BusinessWorker gets the
// Close events of the clients the drain closed, then its connection ends.
func TestPHPWorkerShutdown(t *testing.T) {
	tg, addr := startCompatGateway(t, Config{DrainTimeout: 2 * time.Second}, "")
	w := linkPHPWorker(t, addr, "", "w:0")
	eventually(t, "PHP worker linked", func() bool { return tg.Stats().Workers == 1 })
	_ = dialWS(t, tg.public, "/", nil)
	if pkt := w.next(); pkt.Cmd != gwproto.CmdOnConnect {
		t.Fatalf("%+v", pkt.Header)
	}
	if pkt := w.next(); pkt.Cmd != gwproto.CmdOnWebSocketConnect {
		t.Fatalf("%+v", pkt.Header)
	}
	stopped := make(chan error, 1)
	go func() { stopped <- tg.stop(t) }()
	if pkt := w.next(); pkt.Cmd != gwproto.CmdOnClose {
		t.Fatalf("want the client's close, got %+v", pkt.Header)
	}
	if !w.closed() {
		t.Fatal("BusinessWorker connection left open after shutdown")
	}
	if err := <-stopped; err != nil {
		t.Fatal(err)
	}
}

// TestGatewayWorkerUnauthenticatedLarge: before the secret, a peer cannot
// make the gateway take a large packet.
func TestGatewayWorkerUnauthenticatedLarge(t *testing.T) {
	_, addr := startCompatGateway(t, Config{}, "sk")
	p := dialPHP(t, addr)
	p.write([]byte{0, 0x10, 0, 0}) // pack_len 1 MiB
	if !p.closed() {
		t.Fatal("large unauthenticated packet accepted")
	}
	// After auth, the same size is fine.
	p = dialPHP(t, addr)
	p.auth("sk")
	p.cmd(gwproto.CmdSendToAll, 0, "", strings.Repeat("x", 1<<20))
	if got := p.call(gwproto.CmdGetClientCountByGroup, 0, ""); got != "i:0;" {
		t.Fatalf("after a large send: %s", got)
	}
}

// TestPHPWorkerBurst: a burst from many clients reaches a PHP worker
// complete and, per client, in order.
func TestPHPWorkerBurst(t *testing.T) {
	tg, addr := startCompatGateway(t, Config{}, "")
	w := linkPHPWorker(t, addr, "", "w:0")
	eventually(t, "PHP worker linked", func() bool { return tg.Stats().Workers == 1 })
	const clients, per = 10, 200
	wss := make([]*websocket.Conn, clients)
	for i := range wss {
		wss[i] = dialWS(t, tg.public, "/", nil)
	}
	errs := make(chan error, clients)
	for i, ws := range wss {
		go func() {
			for k := range per {
				if err := ws.WriteMessage(websocket.TextMessage, []byte(fmt.Sprint(i, ":", k))); err != nil {
					errs <- err
					return
				}
			}
			errs <- nil
		}()
	}
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	next := map[uint32]int{} // per connection: next message number
	prefix := map[uint32]string{}
	for got := 0; got < clients*per; {
		pkt := w.next()
		if pkt.Cmd != gwproto.CmdOnMessage {
			continue
		}
		who, k, _ := strings.Cut(string(pkt.Body), ":")
		if p, ok := prefix[pkt.ConnectionID]; ok && p != who {
			t.Fatalf("connection %d sent as %s and %s", pkt.ConnectionID, p, who)
		}
		prefix[pkt.ConnectionID] = who
		if k != fmt.Sprint(next[pkt.ConnectionID]) {
			t.Fatalf("connection %d: message %s, want %d", pkt.ConnectionID, k, next[pkt.ConnectionID])
		}
		next[pkt.ConnectionID]++
		got++
	}
}
