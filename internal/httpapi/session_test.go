package httpapi

import (
	"context"
	"fmt"
	"maps"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
	"github.com/gatewayworker/gatewayworker/pushclient"
)

// sessionKeys changes the session from handlers:
//   - "hold": waits for release, then sets mine=1 and deletes gone;
//   - "set K": sets K=1;
//   - "show": replies with the session it sees, as sorted k=v pairs.
type sessionKeys struct {
	businessworker.BaseHandler
	mu      sync.Mutex
	ids     map[string]string // name in the query -> client id
	held    chan struct{}     // closed when "hold" is in the handler
	release chan struct{}
}

func (h *sessionKeys) OnConnect(_ context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	c, hs := e.Client, e.Handshake
	h.mu.Lock()
	defer h.mu.Unlock()
	h.ids[hs.Query().Get("name")] = c.ID()
	return businessworker.ConnectReply{}, nil
}

func (h *sessionKeys) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, m := e.Client, e.Message
	cmd, arg, _ := strings.Cut(m.String(), " ")
	s := c.Session()
	switch cmd {
	case "hold":
		close(h.held)
		select {
		case <-h.release:
		case <-time.After(testcluster.Wait):
		}
		s["mine"] = "1"
		delete(s, "gone")
	case "set":
		s[arg] = "1"
	case "show":
		_ = c.Send(ctx, businessworker.Text(pairs(s)))
	}
}

func pairs(s map[string]string) string {
	var out []string
	for _, k := range slices.Sorted(maps.Keys(s)) {
		out = append(out, k+"="+s[k])
	}
	return strings.Join(out, ",")
}

type sessionFixture struct {
	*fixture
	h *sessionKeys
	p *pushclient.Client
	g *testcluster.Gateway
}

// startSessions runs a register, a gateway, a worker running sessionKeys, a
// push client and the HTTP API over another push client.
func startSessions(t *testing.T) *sessionFixture {
	t.Helper()
	c := testcluster.NewCluster(t, secret)
	g := c.AddGateway("g", nil)
	h := &sessionKeys{ids: map[string]string{}, held: make(chan struct{}), release: make(chan struct{})}
	c.AddWorker(h)
	newPush := func() *pushclient.Client {
		p, err := pushclient.New(pushclient.Config{Registers: []string{c.Register}, Secret: secret})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = p.Close(context.Background()) })
		return p
	}
	s, err := New(Config{API: newPush(), Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(s)
	t.Cleanup(srv.Close)
	f := &fixture{t: t, srv: srv, ids: map[string]string{}, conn: map[string]*websocket.Conn{}}
	return &sessionFixture{fixture: f, h: h, p: newPush(), g: g}
}

func (f *sessionFixture) dial(name string) {
	f.t.Helper()
	ws, resp, err := websocket.DefaultDialer.Dial(f.g.WS+"?name="+name, nil)
	if err != nil {
		f.t.Fatal(err)
	}
	resp.Body.Close()
	f.t.Cleanup(func() { ws.Close() })
	f.conn[name] = ws
	testcluster.WaitFor(f.t, name+" connected", func() bool {
		f.h.mu.Lock()
		defer f.h.mu.Unlock()
		f.ids[name] = f.h.ids[name]
		return f.ids[name] != ""
	})
}

func (f *sessionFixture) send(name, msg string) {
	f.t.Helper()
	if err := f.conn[name].WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		f.t.Fatal(err)
	}
}

// A handler that runs while the HTTP API and a push client change other
// keys writes back only its own keys: all the changes are kept.
func TestSessionHandlerMergesWithConcurrentUpdates(t *testing.T) {
	f := startSessions(t)
	f.dial("a")
	id := f.ids["a"]
	f.ok("POST", "/v1/update-session", `{"client_id":"`+id+`","session":{"keep":"k","gone":"x"},"flush":true}`)

	// Both events are read by the gateway before any change below.
	f.send("a", "hold")
	f.send("a", "show")
	select {
	case <-f.h.held:
	case <-time.After(testcluster.Wait):
		t.Fatal("handler not called")
	}
	f.ok("POST", "/v1/update-session", `{"client_id":"`+id+`","session":{"vip":"1"},"flush":true}`)
	ctx := context.Background()
	if err := f.p.UpdateSession(ctx, id, map[string]string{"push": "1"}); err != nil {
		t.Fatal(err)
	}
	if err := f.p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	close(f.h.release)

	// "show" was read before the write-back was applied: it sees the
	// handler's change laid over the session of its time.
	f.expect("a", "keep=k,mine=1")
	want := map[string]string{"keep": "k", "vip": "1", "push": "1", "mine": "1"}
	var got map[string]string
	testcluster.WaitFor(t, "write-back applied", func() bool {
		s, err := f.p.Session(ctx, id)
		got = s
		return err == nil && s["mine"] == "1"
	})
	if !maps.Equal(got, want) {
		t.Fatalf("session %v, want %v", got, want)
	}
	// A later event sees the gateway's session, every key.
	f.send("a", "show")
	f.expect("a", pairs(want))
}

// Many handler write-backs of several clients race with two pushers (the
// HTTP API and a push client) on other keys: no key is lost.
func TestSessionConcurrentHandlersAndPushers(t *testing.T) {
	f := startSessions(t)
	const clients, keys = 4, 30
	names := make([]string, clients)
	for i := range names {
		names[i] = fmt.Sprint("c", i)
		f.dial(names[i])
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	for _, name := range names {
		id := f.ids[name]
		wg.Go(func() {
			for k := range keys {
				if err := f.p.UpdateSession(ctx, id, map[string]string{fmt.Sprint("p", k): "1"}); err != nil {
					t.Error(err)
					return
				}
			}
		})
		wg.Go(func() {
			for k := range keys {
				// f.do, not f.ok: t.Fatal must not run off the test goroutine.
				status, out := f.do("POST", "/v1/update-session", secret,
					fmt.Sprintf(`{"client_id":%q,"session":{"q%d":"1"}}`, id, k))
				if status != 200 {
					t.Errorf("update-session: %d %v", status, out)
					return
				}
			}
		})
	}
	for k := range keys {
		for _, name := range names {
			f.send(name, fmt.Sprint("set h", k))
		}
	}
	wg.Wait()
	if err := f.p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	for _, name := range names {
		id := f.ids[name]
		var got map[string]string
		testcluster.WaitFor(t, name+" write-backs applied", func() bool {
			s, err := f.p.Session(ctx, id)
			got = s
			return err == nil && s[fmt.Sprint("h", keys-1)] == "1"
		})
		for k := range keys {
			for _, p := range []string{"h", "p", "q"} {
				if got[fmt.Sprint(p, k)] != "1" {
					t.Fatalf("%s: key %s%d lost: %v", name, p, k, got)
				}
			}
		}
		if len(got) != 3*keys {
			t.Fatalf("%s: %d keys, want %d: %v", name, len(got), 3*keys, got)
		}
	}
}
