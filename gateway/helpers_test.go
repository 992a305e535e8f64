package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/url"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"

	"github.com/gatewayworker/gatewayworker/internal/auth"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const waitFor = 5 * time.Second

// testGateway is a gateway served on loopback for one test.
type testGateway struct {
	*Gateway
	public, lan string
	cancel      context.CancelFunc
	done        chan error
}

func startGateway(t *testing.T, cfg Config) *testGateway {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	pub, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	lan, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	tg := &testGateway{Gateway: g, public: pub.Addr().String(), lan: lan.Addr().String(), cancel: cancel, done: make(chan error, 1)}
	go func() { tg.done <- g.Serve(ctx, pub, lan) }()
	t.Cleanup(func() { tg.stop(t) })
	return tg
}

// stop cancels Serve and waits for it; idempotent.
func (tg *testGateway) stop(t *testing.T) error {
	t.Helper()
	tg.cancel()
	select {
	case err, ok := <-tg.done:
		if ok {
			close(tg.done)
		}
		return err
	case <-time.After(15 * time.Second):
		t.Fatal("Serve did not return")
		return nil
	}
}

// eventually polls cond until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	eventuallyWithin(t, waitFor, what, cond)
}

// eventuallyWithin is eventually with its own bound, for conditions that
// depend on how fast a loaded machine moves bytes (a flooder's own socket
// backs off under load).
func eventuallyWithin(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// testLink is a linker driving the Link service with the generated client.
type testLink struct {
	t       *testing.T
	id      string
	cc      *grpc.ClientConn
	stream  grpc.BidiStreamingClient[pb.LinkRequest, pb.LinkResponse]
	cancel  context.CancelFunc
	welcome *pb.LinkResponse
	events  chan *pb.Event
	replies chan *pb.Reply
	workers chan []string
	recvErr chan error
	sendMu  sync.Mutex
	nextID  uint64
	wg      sync.WaitGroup
}

func dialLink(t *testing.T, addr, secret, id string, events bool) *testLink {
	t.Helper()
	l, err := tryLink(t, addr, secret, id, events)
	if err != nil {
		t.Fatalf("link: %v", err)
	}
	return l
}

func tryLink(t *testing.T, addr, secret, id string, events bool) (*testLink, error) {
	t.Helper()
	cc, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()), auth.Credentials(secret))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &testLink{t: t, id: id, cc: cc, cancel: cancel,
		events: make(chan *pb.Event, 100000), replies: make(chan *pb.Reply, 1000),
		workers: make(chan []string, 100), recvErr: make(chan error, 1)}
	fail := func(err error) (*testLink, error) {
		cancel()
		_ = cc.Close()
		return nil, err
	}
	l.stream, err = pb.NewGatewayClient(cc).Link(ctx)
	if err != nil {
		return fail(err)
	}
	if err := l.stream.Send(&pb.LinkRequest{Hello: &pb.Hello{LinkerId: id, Name: id, Events: events}}); err != nil {
		return fail(err)
	}
	l.welcome, err = l.stream.Recv()
	if err != nil {
		return fail(err)
	}
	if l.welcome.GetWelcome() == nil {
		return fail(errors.New("first response has no welcome"))
	}
	l.wg.Add(1)
	go l.receive()
	t.Cleanup(l.close)
	return l, nil
}

func (l *testLink) receive() {
	defer l.wg.Done()
	for {
		resp, err := l.stream.Recv()
		if err != nil {
			l.recvErr <- err
			return
		}
		if resp.GetWorkersChanged() {
			l.workers <- resp.GetWorkers()
		}
		for _, ev := range resp.GetEvents() {
			l.events <- ev
		}
		for _, r := range resp.GetReplies() {
			l.replies <- r
		}
	}
}

// close breaks the link (as a crashed worker would) and waits.
func (l *testLink) close() {
	l.cancel()
	l.wg.Wait()
	_ = l.cc.Close()
}

func (l *testLink) send(req *pb.LinkRequest) {
	l.t.Helper()
	l.sendMu.Lock()
	defer l.sendMu.Unlock()
	if err := l.stream.Send(req); err != nil {
		l.t.Fatalf("link send: %v", err)
	}
}

func (l *testLink) commands(cmds ...*pb.Command) { l.send(&pb.LinkRequest{Commands: cmds}) }

func (l *testLink) ack(seq uint64) { l.send(&pb.LinkRequest{Ack: seq}) }

// call sends cmd with a fresh id and waits for its reply.
func (l *testLink) call(cmd *pb.Command) *pb.Reply {
	l.t.Helper()
	l.nextID++
	cmd.Id = l.nextID
	l.commands(cmd)
	select {
	case r := <-l.replies:
		if r.GetId() != cmd.Id {
			l.t.Fatalf("reply id %d, want %d", r.GetId(), cmd.Id)
		}
		return r
	case <-time.After(waitFor):
		l.t.Fatalf("no reply to command %d", cmd.Id)
		return nil
	}
}

func (l *testLink) query(q *pb.Query) *pb.QueryResult {
	l.t.Helper()
	r := l.call(&pb.Command{Op: &pb.Command_Query{Query: q}})
	if r.GetError() != "" {
		l.t.Fatalf("query error: %s", r.GetError())
	}
	return r.GetResult()
}

// flush waits until every earlier command is applied.
func (l *testLink) flush() { l.t.Helper(); l.call(&pb.Command{}) }

func (l *testLink) event() *pb.Event {
	l.t.Helper()
	select {
	case ev := <-l.events:
		return ev
	case <-time.After(waitFor):
		l.t.Fatal("no event")
		return nil
	}
}

// connectEvent waits for the next event, which must be a Connect.
// connectEvent takes the next event, a Connect, and acks it as a worker
// whose connect handler returned: until then the gateway does not read the
// client (its first message waits for what the connect handler does).
func (l *testLink) connectEvent() *pb.Event {
	l.t.Helper()
	ev := l.connectEventHeld()
	l.ack2(ev.GetSeq())
	return ev
}

// connectEventHeld takes the next event, a Connect, without acking it: the
// client stays unread.
func (l *testLink) connectEventHeld() *pb.Event {
	l.t.Helper()
	ev := l.event()
	if ev.GetConnect() == nil {
		l.t.Fatalf("want Connect event, got %v", ev)
	}
	return ev
}

func (l *testLink) noEvent(d time.Duration) {
	l.t.Helper()
	select {
	case ev := <-l.events:
		l.t.Fatalf("unexpected event %v", ev)
	case <-time.After(d):
	}
}

// dialWS connects a WebSocket client.
func dialWS(t *testing.T, addr, path string, hdr http.Header) *websocket.Conn {
	t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial("ws://"+addr+path, hdr)
	if err != nil {
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		t.Fatalf("dial %s: %v (status %d)", path, err, status)
	}
	t.Cleanup(func() { _ = ws.Close() })
	return ws
}

// readMsg reads one message with a deadline.
func readMsg(t *testing.T, ws *websocket.Conn) (int, string) {
	t.Helper()
	_ = ws.SetReadDeadline(time.Now().Add(waitFor))
	mt, data, err := ws.ReadMessage()
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return mt, string(data)
}

func sendTo(data string, conns ...uint64) *pb.Command {
	return &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: conns, Data: []byte(data)}}}
}

func mustURL(t *testing.T, s string) *url.URL {
	t.Helper()
	u, err := url.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return u
}

// ackingWorker links a worker that acks every event at once, for tests of
// client-side limits: without a worker, a client's reading pauses after
// its first event (flow control) and the limit under test is never hit.
func ackingWorker(t *testing.T, tg *testGateway) *testLink {
	t.Helper()
	w := dialLink(t, tg.lan, "", "acking-worker", true)
	done := make(chan struct{})
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for {
			select {
			case ev := <-w.events:
				w.sendMu.Lock()
				err := w.stream.Send(&pb.LinkRequest{Acks: []*pb.AckRange{{First: ev.GetSeq(), Last: ev.GetSeq()}}})
				w.sendMu.Unlock()
				if err != nil {
					return
				}
			case <-done:
				return
			}
		}
	}()
	t.Cleanup(func() { close(done); <-stopped })
	return w
}
