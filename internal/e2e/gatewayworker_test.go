package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/examples/chat/chat"
	"github.com/gatewayworker/gatewayworker/gateway"
	"github.com/gatewayworker/gatewayworker/register"
)

// The tests of this file run PHP scripts of this repository
// (testdata/gatewayworker: a GatewayClient and a BusinessWorker written from
// GatewayWorker 4.x's protocol description) against real registers and
// gateways. They need php-cli (.ci/run installs it); without it they are
// skipped, except under CI, where that is a failure.

func needPHP(t *testing.T) string {
	t.Helper()
	php, err := exec.LookPath("php")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("php-cli is missing (.ci/run installs it)")
		}
		t.Skip("php-cli not installed")
	}
	return php
}

// newPHPCluster is newCluster plus the register's GatewayWorker listener;
// it returns that listener's address.
func newPHPCluster(t *testing.T) (*cluster, string) {
	t.Helper()
	c := &cluster{t: t, secret: "e2e-secret"}
	reg, err := register.New(register.Config{Name: "r1", Secret: c.secret, Logger: testLogger(t)})
	if err != nil {
		t.Fatal(err)
	}
	lis, gwl := listen(t), listen(t)
	c.register = lis.Addr().String()
	start(t, func(ctx context.Context) error { return reg.Serve(ctx, lis) })
	start(t, func(ctx context.Context) error {
		return reg.ServeGatewayWorker(ctx, gwl, register.GatewayWorkerConfig{SecretKey: c.secret})
	})
	return c, gwl.Addr().String()
}

// addCompatGateway adds a gateway with its GatewayWorker listener.
func (c *cluster) addCompatGateway(name string) *gw {
	c.t.Helper()
	l := listen(c.t)
	return c.addGateway(name, func(cfg *gateway.Config) {
		cfg.GatewayWorker = gateway.GatewayWorkerConfig{Listener: l, SecretKey: c.secret}
	})
}

// gwclient runs testdata/gatewayworker/gwclient.php and decodes its JSON.
func gwclient(t *testing.T, php, register, secret string, args ...string) any {
	t.Helper()
	cmdArgs := append([]string{filepath.Join("testdata", "gatewayworker", "gwclient.php"), register, secret}, args...)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, php, cmdArgs...).CombinedOutput()
	if err != nil {
		t.Fatalf("gwclient %v: %v\n%s", args, err, out)
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Fatalf("gwclient %v: %q: %v", args, out, err)
	}
	return v
}

// phpChatWorker runs testdata/gatewayworker/chatworker.php until the test
// ends; lines counts its output lines by first word.
type phpChatWorker struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	mu    sync.Mutex
	lines map[string]int
	done  chan struct{}
}

func startPHPChatWorker(t *testing.T, php, register, secret string) *phpChatWorker {
	t.Helper()
	w := &phpChatWorker{lines: map[string]int{}, done: make(chan struct{})}
	w.cmd = exec.Command(php, filepath.Join("testdata", "gatewayworker", "chatworker.php"), register, secret, "ChatBusinessWorker:0")
	w.cmd.Stderr = os.Stderr
	var err error
	if w.stdin, err = w.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := w.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := w.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(w.done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			word, _, _ := strings.Cut(sc.Text(), " ")
			w.mu.Lock()
			w.lines[word]++
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		_ = w.stdin.Close() // the script exits when its stdin closes
		select {
		case <-w.done:
		case <-time.After(waitFor):
			_ = w.cmd.Process.Kill()
			<-w.done
		}
		_ = w.cmd.Wait()
	})
	return w
}

func (w *phpChatWorker) count(word string) int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.lines[word]
}

// countingChat is the seed's chat handler, counting the messages it handled.
type countingChat struct {
	*chat.Handler
	n atomic.Int64
}

func (h *countingChat) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	h.n.Add(1)
	h.Handler.OnMessage(ctx, e)
}

// TestE2EGatewayWorkerChatMixed: the seed's group chat with one PHP-protocol
// worker (chatworker.php, linked through the register's and the gateways'
// GatewayWorker listeners) and one Go worker (examples/chat) on each of two
// gateways: every message reaches every client on both gateways once,
// whichever worker the sender's events go to, and both workers handle some.
func TestE2EGatewayWorkerChatMixed(t *testing.T) {
	php := needPHP(t)
	c, gwRegister := newPHPCluster(t)
	g1, g2 := c.addCompatGateway("g1"), c.addCompatGateway("g2")
	goChat := &countingChat{Handler: &chat.Handler{Tick: -1}}
	c.addWorker("go-chat", goChat)
	pw := startPHPChatWorker(t, php, gwRegister, c.secret)
	c.waitLinked(2)

	const n = 24
	clients := make([]*client, n)
	for i := range clients {
		clients[i] = dial(t, []*gw{g1, g2}[i%2].ws)
	}
	// Every client connected (Connect events routed) before messages fly.
	eventually(t, "clients connected", func() bool { return g1.Stats().Clients+g2.Stats().Clients == n })
	for i, cl := range clients {
		cl.send(fmt.Sprint("m", i))
	}
	for i, cl := range clients {
		var got []string
		for range n {
			got = append(got, cl.next().data)
		}
		slices.Sort(got)
		want := make([]string, n)
		for k := range want {
			want[k] = fmt.Sprint("m", k)
		}
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("client %d got %v", i, got)
		}
		cl.expectNothing(20 * time.Millisecond)
	}
	phpN, goN := pw.count("message"), int(goChat.n.Load())
	if phpN+goN != n || phpN == 0 || goN == 0 {
		t.Fatalf("PHP worker handled %d, Go worker %d, of %d messages", phpN, goN, n)
	}
	t.Logf("PHP worker handled %d messages, Go worker %d", phpN, goN)
}

// roomHandler joins every client to "room" and binds it to the uid of its
// ?uid= query parameter.
type roomHandler struct{ businessworker.BaseHandler }

func (roomHandler) OnConnect(ctx context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	c, hs := e.Client, e.Handshake
	w := c.Worker()
	_ = w.JoinGroup(ctx, c.ID(), "room")
	if uid := hs.Query().Get("uid"); uid != "" {
		_ = w.BindUID(ctx, c.ID(), uid)
	}
	return businessworker.ConnectReply{}, nil
}

// TestE2EGatewayClientPush: a PHP GatewayClient (gwclient.php) learns the
// gateways from the register's GatewayWorker listener and pushes through
// them to clients on two gateways whose events only a Go worker handles.
func TestE2EGatewayClientPush(t *testing.T) {
	php := needPHP(t)
	c, gwRegister := newPHPCluster(t)
	g1, g2 := c.addCompatGateway("g1"), c.addCompatGateway("g2")
	w := c.addWorker("go-rooms", roomHandler{})
	c.waitLinked(1)
	eventually(t, "register lists both gateways", func() bool {
		addrs, _ := gwclient(t, php, gwRegister, c.secret, "gateways").([]any)
		return len(addrs) == 2
	})

	a := dial(t, g1.ws+"?uid=alice")
	b := dial(t, g2.ws+"?uid=bob")
	b2 := dial(t, g2.ws+"?uid=bob")
	eventually(t, "clients in room", func() bool {
		n, _ := w.CountClientsInGroup(context.Background(), "room")
		return n == 3
	})
	// Queries, merged over both gateways as GatewayClient does.
	if n := gwclient(t, php, gwRegister, c.secret, "count", "room"); n != float64(3) {
		t.Fatalf("count room = %v", n)
	}
	ids, _ := gwclient(t, php, gwRegister, c.secret, "client_ids").([]any)
	if len(ids) != 3 {
		t.Fatalf("client_ids = %v", ids)
	}
	bobs, _ := gwclient(t, php, gwRegister, c.secret, "client_ids_by_uid", "bob").([]any)
	alice, _ := gwclient(t, php, gwRegister, c.secret, "client_ids_by_uid", "alice").([]any)
	if len(bobs) != 2 || len(alice) != 1 {
		t.Fatalf("bob %v alice %v", bobs, alice)
	}

	// Sends reach clients on both gateways.
	gwclient(t, php, gwRegister, c.secret, "send_to_group", "room", "hello room")
	for _, cl := range []*client{a, b, b2} {
		cl.expect("hello room")
	}
	gwclient(t, php, gwRegister, c.secret, "send_to_uid", "bob", "hi bob")
	b.expect("hi bob")
	b2.expect("hi bob")
	gwclient(t, php, gwRegister, c.secret, "send_to_all", "all but alice", alice[0].(string))
	b.expect("all but alice")
	b2.expect("all but alice")
	gwclient(t, php, gwRegister, c.secret, "send_to_group", "room", "room but one bob", bobs[0].(string))
	gwclient(t, php, gwRegister, c.secret, "send_to_client", alice[0].(string), "direct")
	a.expect("room but one bob")
	a.expect("direct")
	// Exactly one bob got the group message: the other's next is the marker.
	gwclient(t, php, gwRegister, c.secret, "send_to_uid", "bob", "marker")
	got := 0
	for _, cl := range []*client{b, b2} {
		if m := cl.next(); m.data == "room but one bob" {
			got++
			cl.expect("marker")
		} else if m.data != "marker" {
			t.Fatalf("unexpected %q", m.data)
		}
	}
	if got != 1 {
		t.Fatalf("%d bobs got the message sent with one excluded", got)
	}

	// A PHP session update is visible to the Go worker as strings.
	gwclient(t, php, gwRegister, c.secret, "update_session", alice[0].(string), `{"name":"alice","level":3}`)
	sess, _ := gwclient(t, php, gwRegister, c.secret, "get_session", alice[0].(string)).(map[string]any)
	if sess["name"] != "alice" || sess["level"] != float64(3) {
		t.Fatalf("PHP session %v", sess)
	}
	goIDs, err := w.ClientsByUID(context.Background(), "alice")
	if err != nil || len(goIDs) != 1 {
		t.Fatalf("Go ids of alice: %v %v", goIDs, err)
	}
	gs, err := w.Session(context.Background(), goIDs[0])
	if err != nil || gs["name"] != "alice" {
		t.Fatalf("Go view of the PHP session: %v %v", gs, err)
	}

	// closeClient with a last message.
	gwclient(t, php, gwRegister, c.secret, "close_client", alice[0].(string), "bye")
	if code := a.closeCode(); code != 1000 {
		t.Fatalf("close code %d", code)
	}
	select { // the last message came before the close
	case m := <-a.in:
		if m.data != "bye" {
			t.Fatalf("last message %q", m.data)
		}
	default:
		t.Fatal("no last message before the close")
	}
	// The gateway drops the client once the close handshake ends.
	eventually(t, "is_online 0 after close", func() bool {
		return gwclient(t, php, gwRegister, c.secret, "is_online", alice[0].(string)) == float64(0)
	})
	if on := gwclient(t, php, gwRegister, c.secret, "is_online", bobs[0].(string)); on != float64(1) {
		t.Fatalf("is_online bob = %v", on)
	}
}
