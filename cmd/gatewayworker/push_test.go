package main

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
	"github.com/gatewayworker/gatewayworker/pushclient"
)

const pushTestSecret = "cli-secret"

// pushFixture is a cluster of two gateways with client "a" on the first and
// "b" on the second, for the push subcommands.
type pushFixture struct {
	t       *testing.T
	cluster *testcluster.Cluster
	ids     map[string]string
	conns   map[string]*websocket.Conn
	api     *pushclient.Client // to set up uids and groups
}

// pushNames records client ids by the name in the query string.
type pushNames struct {
	businessworker.BaseHandler
	mu sync.Mutex
	m  map[string]string
}

func (h *pushNames) OnConnect(_ context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	c, hs := e.Client, e.Handshake
	h.mu.Lock()
	defer h.mu.Unlock()
	h.m[hs.Query().Get("name")] = c.ID()
	return businessworker.ConnectReply{}, nil
}

func newPushFixture(t *testing.T) *pushFixture {
	t.Helper()
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) }) // runs last
	c := testcluster.NewCluster(t, pushTestSecret)
	gws := map[string]*testcluster.Gateway{"a": c.AddGateway("g1", nil), "b": c.AddGateway("g2", nil)}
	h := &pushNames{m: map[string]string{}}
	c.AddWorker(h)
	f := &pushFixture{t: t, cluster: c, ids: map[string]string{}, conns: map[string]*websocket.Conn{}}
	for name, g := range gws {
		ws, resp, err := websocket.DefaultDialer.Dial(g.WS+"?name="+name, nil)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		t.Cleanup(func() { ws.Close() })
		f.conns[name] = ws
		testcluster.WaitFor(t, name+" connected", func() bool {
			h.mu.Lock()
			defer h.mu.Unlock()
			f.ids[name] = h.m[name]
			return f.ids[name] != ""
		})
	}
	p, err := pushclient.New(pushclient.Config{Registers: []string{c.Register}, Secret: pushTestSecret})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = p.Close(context.Background()) })
	f.api = p
	return f
}

// run runs the command in-process with the register flag, the given
// environment, and returns the exit code, stdout and stderr.
func (f *pushFixture) run(env map[string]string, args ...string) (int, string, string) {
	f.t.Helper()
	var out, errb bytes.Buffer
	full := append([]string{args[0], "--register", f.cluster.Register}, args[1:]...)
	code := run(context.Background(), full, &out, &errb, func(k string) string { return env[k] })
	return code, out.String(), errb.String()
}

func (f *pushFixture) expect(name string, want ...string) {
	f.t.Helper()
	for _, w := range want {
		_ = f.conns[name].SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := f.conns[name].ReadMessage()
		if err != nil {
			f.t.Fatalf("%s: %v", name, err)
		}
		if string(b) != w {
			f.t.Fatalf("%s got %q, want %q", name, b, w)
		}
	}
}

func TestSendCommands(t *testing.T) {
	f := newPushFixture(t)
	ctx := context.Background()
	secret := map[string]string{"GW_SECRET": pushTestSecret}
	ok := func(args ...string) {
		t.Helper()
		if code, out, errs := f.run(secret, args...); code != 0 || out != "" || errs != "" {
			t.Fatalf("%v: exit %d, want 0 and no output\nstdout: %s\nstderr: %s", args, code, out, errs)
		}
	}
	ok("send-to-all", "to all")
	ok("send-to-all", "--exclude", f.ids["a"], "not a")
	ok("send-to-client", f.ids["a"], "to a")
	if err := f.api.BindUID(ctx, f.ids["a"], "0"); err != nil {
		t.Fatal(err)
	}
	if err := f.api.BindUID(ctx, f.ids["b"], "0"); err != nil {
		t.Fatal(err)
	}
	if err := f.api.JoinGroup(ctx, f.ids["b"], "room"); err != nil {
		t.Fatal(err)
	}
	if err := f.api.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	ok("send-to-uid", "0", "to uid 0")
	ok("send-to-group", "room", "to room")
	// The flag wins over GW_SECRET.
	if code, _, errs := f.run(map[string]string{"GW_SECRET": "wrong"}, "send-to-client", "--secret", pushTestSecret, f.ids["b"], "flag"); code != 0 {
		t.Fatalf("--secret over GW_SECRET: exit %d: %s", code, errs)
	}
	f.expect("a", "to all", "to a", "to uid 0")
	f.expect("b", "to all", "not a", "to uid 0", "to room", "flag")

	for _, bad := range []struct {
		code int
		args []string
	}{
		{2, []string{"send-to-client", "only-one-arg"}},
		{2, []string{"send-to-all"}},
		{2, []string{"send-to-client", "not-an-id", "x"}},
		{2, []string{"send-to-all", "--timeout", "0s", "x"}},
		{1, []string{"send-to-all", "--timeout", "500ms", "--secret", "wrong", "x"}},
	} {
		if code, _, errs := f.run(nil, bad.args...); code != bad.code {
			t.Errorf("%v: exit %d, want %d (%s)", bad.args, code, bad.code, strings.TrimSpace(errs))
		}
	}
}
