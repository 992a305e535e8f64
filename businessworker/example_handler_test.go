package businessworker_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// lobby accepts clients whose ?user= names them, binding that uid and
// joining them to "lobby" before their first message; it refuses the others.
type lobby struct{ businessworker.BaseHandler }

func (lobby) OnConnect(ctx context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	user := e.Handshake.Query().Get("user")
	if user == "" {
		return businessworker.ConnectReply{Refuse: &businessworker.Refusal{Code: 4001, Reason: "who are you?"}}, nil
	}
	return businessworker.ConnectReply{
		UID:     user,
		Groups:  []string{"lobby"},
		Session: map[string]string{"lang": e.Handshake.Header("Accept-Language")},
	}, nil
}

// OnMessage shows what a handler sees of the client: the uid and session
// the connect reply set are there from the first message on.
func (lobby) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c := e.Client
	_ = c.Send(ctx, businessworker.Text(fmt.Sprintf("%s (%s) said %q", c.UID(), c.Session()["lang"], e.Message)))
	_ = c.Worker().SendToGroup(ctx, "lobby", businessworker.Text("lobby: "+e.Message.String()))
}

// runWorker runs a worker with h against a register and a gateway of this
// process until the returned stop is called.
func runWorker(h businessworker.Handler) (w *businessworker.Worker, wsURL string, stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	registerAddr, wsAddr, wait := startRegisterAndGateway(ctx)
	w, err := businessworker.New(businessworker.Config{Registers: []string{registerAddr}, Handler: h})
	if err != nil {
		panic(err)
	}
	ran := make(chan struct{})
	go func() { _ = w.Run(ctx); close(ran) }()
	for len(w.Workers()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	return w, "ws://" + wsAddr + "/", func() { cancel(); <-ran; wait() }
}

func readOne(ws *websocket.Conn) string {
	_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, msg, err := ws.ReadMessage()
	if ce, ok := err.(*websocket.CloseError); ok {
		return fmt.Sprintf("(closed %d %q)", ce.Code, ce.Text)
	}
	return string(msg)
}

// OnConnect's reply binds the uid, joins the group and sets the session
// before the client's first message is routed.
func ExampleConnectReply() {
	w, url, stop := runWorker(lobby{})
	defer stop()
	ws, _, err := websocket.DefaultDialer.Dial(url+"?user=ann", map[string][]string{"Accept-Language": {"en"}})
	if err != nil {
		panic(err)
	}
	defer ws.Close()
	for on := false; !on; on, _ = w.IsUIDOnline(context.Background(), "ann") {
		time.Sleep(5 * time.Millisecond) // accepted
	}
	_ = ws.WriteMessage(websocket.TextMessage, []byte("hi"))
	fmt.Println(readOne(ws))
	fmt.Println(readOne(ws))
	// Output:
	// ann (en) said "hi"
	// lobby: hi
}

// A Refusal closes the client with its code and reason.
func ExampleRefusal() {
	_, url, stop := runWorker(lobby{})
	defer stop()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil) // no ?user=
	if err != nil {
		panic(err)
	}
	defer ws.Close()
	fmt.Println(readOne(ws))
	// Output: (closed 4001 "who are you?")
}

// whoami answers every message with what the handler knows of the client.
type whoami struct{ businessworker.BaseHandler }

func (whoami) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c := e.Client
	if e.Message.String() == "bye" {
		_ = c.Close(ctx, businessworker.WithCloseCode(1000, "see you"))
		return
	}
	c.Session()["seen"] = "yes" // written back when the handler returns
	_ = c.Send(ctx, businessworker.Text(fmt.Sprintf("id %d hex, gateway %d hex, from loopback %t, uid %q, redelivered %t",
		len(c.ID()), len(c.Gateway()), strings.HasPrefix(c.RemoteAddr(), "127.0.0.1:"), c.UID(), e.Redelivered)))
	_ = c.Worker().BindUID(ctx, c.ID(), "user-1")
}

// The Client of an event: its id, gateway, address, uid and session, and
// Send and Close for it.
func ExampleClient() {
	w, url, stop := runWorker(whoami{})
	defer stop()
	ws, _, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		panic(err)
	}
	defer ws.Close()
	_ = ws.WriteMessage(websocket.TextMessage, []byte("who am I?"))
	fmt.Println(readOne(ws))
	_ = ws.WriteMessage(websocket.TextMessage, []byte("and now?"))
	fmt.Println(readOne(ws))
	ids, _ := w.Clients(context.Background())
	s, _ := w.Session(context.Background(), ids[0])
	fmt.Println(s)
	_ = ws.WriteMessage(websocket.TextMessage, []byte("bye"))
	fmt.Println(readOne(ws))
	// Output:
	// id 32 hex, gateway 16 hex, from loopback true, uid "", redelivered false
	// id 32 hex, gateway 16 hex, from loopback true, uid "user-1", redelivered false
	// map[seen:yes]
	// (closed 1000 "see you")
}

func ExampleText() {
	m := businessworker.Text(`{"type":"notice"}`)
	fmt.Println(m.Binary, m)
	// Output: false {"type":"notice"}
}

func ExampleBinary() {
	m := businessworker.Binary([]byte{1, 2, 3})
	fmt.Println(m.Binary, m.Data)
	// Output: true [1 2 3]
}

func ExampleMessage_String() {
	fmt.Println(businessworker.Text("hello").String())
	// Output: hello
}

func ExampleHandshake_Query() {
	hs := businessworker.Handshake{Path: "/chat", RawQuery: "room=7&token=abc"}
	fmt.Println(hs.Query().Get("room"))
	// Output: 7
}

func ExampleHandshake_Header() {
	hs := businessworker.Handshake{Headers: []businessworker.Header{{Name: "Origin", Value: "https://example.com"}}}
	fmt.Println(hs.Header("origin")) // case-insensitive
	// Output: https://example.com
}

func ExampleWorker_Every() {
	var runs atomic.Int32
	done := make(chan struct{})
	w, _, stop := runWorker(businessworker.BaseHandler{})
	defer stop()
	var once sync.Once
	stopTimer := w.Every(10*time.Millisecond, func(ctx context.Context) {
		if runs.Add(1) == 3 {
			once.Do(func() { close(done) })
		}
	})
	<-done
	stopTimer()
	fmt.Println("ran 3 times")
	// Output: ran 3 times
}

// A leader-only timer runs on one worker of the cluster; its ctx carries
// the lease's fencing token.
func ExampleWithLeaderOnly() {
	ctx, cancel := context.WithCancel(context.Background())
	reg, err := register.New(register.Config{MaxLeaderTTL: register.MinTTL}) // grants after 100 ms
	if err != nil {
		panic(err)
	}
	rl, pub, lan := mustListen(), mustListen(), mustListen()
	gw, err := gateway.New(gateway.Config{Registers: []string{rl.Addr().String()}})
	if err != nil {
		panic(err)
	}
	var wg sync.WaitGroup
	wg.Go(func() { _ = reg.Serve(ctx, rl) })
	wg.Go(func() { _ = gw.Serve(ctx, pub, lan) })
	w, err := businessworker.New(businessworker.Config{Registers: []string{rl.Addr().String()},
		Handler: businessworker.BaseHandler{}, LeaderLeaseTTL: 300 * time.Millisecond})
	if err != nil {
		panic(err)
	}
	tokens := make(chan uint64, 1)
	w.Every(20*time.Millisecond, func(ctx context.Context) {
		token, _ := businessworker.LeaderToken(ctx)
		select {
		case tokens <- token:
		default:
		}
	}, businessworker.WithLeaderOnly())
	wg.Go(func() { _ = w.Run(ctx) })
	token := <-tokens
	fmt.Println(w.IsLeader(), token > 0)
	cancel()
	wg.Wait()
	// Output: true true
}
