package httpapi

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
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

const secret = "api-secret"

// names records client ids by the name in the query string.
type names struct {
	businessworker.BaseHandler
	mu sync.Mutex
	m  map[string]string
}

func (h *names) OnConnect(_ context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	c, hs := e.Client, e.Handshake
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[hs.Query().Get("name")] = c.ID()
	return businessworker.ConnectReply{}, nil
}

type fixture struct {
	t    *testing.T
	srv  *httptest.Server
	ids  map[string]string
	conn map[string]*websocket.Conn
}

// start runs two gateways with clients a (gateway 1) and b (gateway 2), a
// push client and the API server.
func start(t *testing.T) *fixture {
	t.Helper()
	c := testcluster.NewCluster(t, secret)
	g1, g2 := c.AddGateway("g1", nil), c.AddGateway("g2", nil)
	h := &names{m: map[string]string{}}
	c.AddWorker(h)
	f := &fixture{t: t, ids: map[string]string{}, conn: map[string]*websocket.Conn{}}
	for name, g := range map[string]*testcluster.Gateway{"a": g1, "b": g2} {
		ws, resp, err := websocket.DefaultDialer.Dial(g.WS+"?name="+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		t.Cleanup(func() { ws.Close() })
		f.conn[name] = ws
		testcluster.WaitFor(t, name+" connected", func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			f.ids[name] = h.m[name]
			return f.ids[name] != ""
		})
	}
	p, err := pushclient.New(pushclient.Config{Registers: []string{c.Register}, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	s, err := New(Config{API: p, Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(s)
	t.Cleanup(f.srv.Close)
	return f
}

// do sends a request with the token and returns the status and JSON body.
func (f *fixture) do(method, path, token, body string) (int, map[string]any) {
	f.t.Helper()
	req, err := http.NewRequest(method, f.srv.URL+path, strings.NewReader(body))
	if err != nil {
		f.t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		f.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		f.t.Fatalf("%s %s: body %q: %v", method, path, raw, err)
	}
	return resp.StatusCode, out
}

func (f *fixture) ok(method, path, body string) map[string]any {
	f.t.Helper()
	status, out := f.do(method, path, secret, body)
	if status != http.StatusOK {
		f.t.Fatalf("%s %s: %d %v", method, path, status, out)
	}
	return out
}

func (f *fixture) expect(name string, want ...string) {
	f.t.Helper()
	ws := f.conn[name]
	for _, w := range want {
		_ = ws.SetReadDeadline(time.Now().Add(5 * time.Second))
		typ, b, err := ws.ReadMessage()
		if err != nil {
			f.t.Fatalf("%s: %v", name, err)
		}
		got := string(b)
		if typ == websocket.BinaryMessage {
			got = "bin:" + got
		}
		if got != w {
			f.t.Fatalf("%s got %q, want %q", name, got, w)
		}
	}
}

func TestNewValidates(t *testing.T) {
	if _, err := New(Config{Secret: "x"}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no API: %v", err)
	}
	if _, err := New(Config{API: &pushclient.Client{}}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("no secret: %v", err)
	}
}

func TestAPI(t *testing.T) {
	f := start(t)
	a, b := f.ids["a"], f.ids["b"]

	for _, token := range []string{"", "wrong", secret + "x"} {
		status, out := f.do("POST", "/v1/send-to-all", token, `{"text":"x"}`)
		if status != http.StatusUnauthorized || out["error"] == nil {
			t.Fatalf("token %q: %d %v", token, status, out)
		}
	}

	f.ok("POST", "/v1/send-to-all", `{"text":"hello all","flush":true}`)
	f.ok("POST", "/v1/send-to-all", `{"binary":"AQI=","exclude":["`+a+`"]}`)
	f.ok("POST", "/v1/send-to-all", `{"text":"only a","clients":["`+a+`"]}`)
	f.ok("POST", "/v1/send-to-client", `{"client_id":"`+b+`","text":"to b"}`)
	f.expect("a", "hello all", "only a")
	f.expect("b", "hello all", "bin:\x01\x02", "to b")

	f.ok("POST", "/v1/bind-uid", `{"client_id":"`+a+`","uid":"0"}`)
	f.ok("POST", "/v1/bind-uid", `{"client_id":"`+b+`","uid":"0"}`)
	f.ok("POST", "/v1/join-group", `{"client_id":"`+a+`","group":"room"}`)
	f.ok("POST", "/v1/join-group", `{"client_id":"`+b+`","group":"room"}`)
	f.ok("POST", "/v1/send-to-uid", `{"uid":"0","text":"to uid 0"}`)
	f.ok("POST", "/v1/send-to-group", `{"group":"room","text":"to room","exclude":["`+b+`"]}`)
	f.ok("POST", "/v1/update-session", `{"client_id":"`+b+`","session":{"k":"v"},"flush":true}`)
	f.expect("a", "to uid 0", "to room")
	f.expect("b", "to uid 0")

	out := f.ok("GET", "/v1/uids/0", "")
	if out["online"] != true || len(out["client_ids"].([]any)) != 2 {
		t.Fatalf("uid 0: %v", out)
	}
	out = f.ok("GET", "/v1/groups/room", "")
	if out["count"] != 2.0 || !reflect.DeepEqual(out["uids"], []any{"0"}) {
		t.Fatalf("group room: %v", out)
	}
	out = f.ok("GET", "/v1/clients/"+b, "")
	if out["online"] != true || out["uid"] != "0" || !reflect.DeepEqual(out["session"], map[string]any{"k": "v"}) {
		t.Fatalf("client b: %v", out)
	}
	out = f.ok("GET", "/v1/clients", "")
	ids, _ := out["client_ids"].([]any)
	if out["count"] != 2.0 || !slices.Contains(ids, any(a)) {
		t.Fatalf("clients: %v", out)
	}
	out = f.ok("GET", "/v1/groups", "")
	if !reflect.DeepEqual(out["groups"], []any{"room"}) {
		t.Fatalf("groups: %v", out)
	}
	out = f.ok("GET", "/v1/uids", "")
	if !reflect.DeepEqual(out["uids"], []any{"0"}) {
		t.Fatalf("uids: %v", out)
	}
	out = f.ok("GET", "/v1/stats", "")
	if gws, _ := out["gateways"].([]any); len(gws) != 2 || gws[0].(map[string]any)["clients"] != 1.0 {
		t.Fatalf("stats: %v", out)
	}

	for _, bad := range []struct{ path, body string }{
		{"/v1/send-to-client", `{"client_id":"nope","text":"x"}`},
		{"/v1/send-to-all", `{}`},
		{"/v1/send-to-all", `{"text":"x","binary":"AA=="}`},
		{"/v1/send-to-all", `{"text":"x","bogus":1}`},
		{"/v1/send-to-uid", `{"text":"x"}`},
		{"/v1/join-group", `{"client_id":"` + a + `","group":""}`},
		{"/v1/send-to-all", `not json`},
	} {
		if status, out := f.do("POST", bad.path, secret, bad.body); status != http.StatusBadRequest {
			t.Fatalf("%s %s: %d %v, want 400", bad.path, bad.body, status, out)
		}
	}
	big := `{"text":"` + strings.Repeat("x", DefaultMaxBodyBytes) + `"}`
	if status, _ := f.do("POST", "/v1/send-to-all", secret, big); status != http.StatusRequestEntityTooLarge {
		t.Fatalf("big body: %d", status)
	}

	f.ok("POST", "/v1/close-client", `{"client_id":"`+a+`","text":"bye"}`)
	f.expect("a", "bye")
	testcluster.WaitFor(t, "a offline", func() bool {
		_, out := f.do("GET", "/v1/clients/"+a, secret, "")
		return out["online"] == false
	})
}
