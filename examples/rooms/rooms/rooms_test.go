package rooms

import (
	"context"
	"encoding/json"
	"io"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
	"github.com/gatewayworker/gatewayworker/pushclient"
)

type tab struct {
	t    *testing.T
	conn *websocket.Conn
}

func open(t *testing.T, url string) *tab {
	t.Helper()
	conn, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { conn.Close() })
	return &tab{t: t, conn: conn}
}

func (tb *tab) send(in Inbound) {
	tb.t.Helper()
	if err := tb.conn.WriteJSON(in); err != nil {
		tb.t.Fatal(err)
	}
}

// next returns the next message, skipping the types in skip. A message
// that is not JSON comes back as Outbound{Type: "raw", Text: ...}.
func (tb *tab) next(skip ...string) Outbound {
	tb.t.Helper()
	for {
		_ = tb.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, b, err := tb.conn.ReadMessage()
		if err != nil {
			tb.t.Fatal(err)
		}
		var out Outbound
		if json.Unmarshal(b, &out) != nil {
			return Outbound{Type: "raw", Text: string(b)}
		}
		if !contains(skip, out.Type) {
			return out
		}
	}
}

// until reads until a message matching want arrives.
func (tb *tab) until(want Outbound) {
	tb.t.Helper()
	for {
		got := tb.next()
		if reflect.DeepEqual(got, want) {
			return
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func TestRooms(t *testing.T) {
	c := testcluster.NewCluster(t, "rooms")
	g1, g2 := c.AddGateway("g1", nil), c.AddGateway("g2", nil)
	c.AddWorker(&Handler{})

	ann := open(t, g1.WS)
	ann.send(Inbound{Type: "say", Text: "too early"})
	if got := ann.next(); got.Type != "error" {
		t.Fatalf("say before login: %+v", got)
	}
	ann.send(Inbound{Type: "login", Name: "ann"})
	ann.until(Outbound{Type: "welcome", Name: "ann"})
	ann.until(Outbound{Type: "online", Room: DefaultRoom, Names: []string{"ann"}})

	bob := open(t, g2.WS)
	bob.send(Inbound{Type: "login", Name: "bob", Room: DefaultRoom})
	bob.until(Outbound{Type: "online", Room: DefaultRoom, Names: []string{"ann", "bob"}})
	ann.until(Outbound{Type: "online", Room: DefaultRoom, Names: []string{"ann", "bob"}})

	// Ann on a second device: same nickname, two connections.
	ann2 := open(t, g2.WS)
	ann2.send(Inbound{Type: "login", Name: "ann"})
	ann2.until(Outbound{Type: "welcome", Name: "ann"})

	bob.send(Inbound{Type: "say", Text: "hi room"})
	want := Outbound{Type: "say", Room: DefaultRoom, From: "bob", Text: "hi room"}
	for _, tb := range []*tab{ann, ann2, bob} {
		tb.until(want)
	}

	bob.send(Inbound{Type: "pm", To: "ann", Text: "psst"})
	pm := Outbound{Type: "pm", From: "bob", To: "ann", Text: "psst"}
	for _, tb := range []*tab{ann, ann2, bob} { // both of ann's devices, and bob's copy
		tb.until(pm)
	}
	bob.send(Inbound{Type: "pm", To: "nobody", Text: "x"})
	bob.until(Outbound{Type: "error", Text: "nobody is not online"})

	bob.send(Inbound{Type: "join", Room: "games"})
	bob.until(Outbound{Type: "online", Room: "games", Names: []string{"bob"}})
	ann.until(Outbound{Type: "online", Room: DefaultRoom, Names: []string{"ann"}})

	// A push from outside the workers shows as a server notice.
	p, err := pushclient.New(pushclient.Config{Registers: []string{c.Register}, Secret: "rooms"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if err := p.SendToGroup(context.Background(), "games", businessworker.Text("maintenance at 5")); err != nil {
		t.Fatal(err)
	}
	bob.until(Outbound{Type: "raw", Text: "maintenance at 5"})

	bob.conn.Close()
	// bob is gone from games; ann's room is unaffected.
	testcluster.WaitFor(t, "bob offline", func() bool {
		on, err := p.IsUIDOnline(context.Background(), "bob")
		return err == nil && !on
	})
}

func TestPage(t *testing.T) {
	h, err := Page("ws://example.test:7272/")
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "example.test:7272") || !strings.Contains(string(body), `type: "login"`) {
		t.Fatalf("page: %d\n%.300s", resp.StatusCode, body)
	}
	resp, err = srv.Client().Get(srv.URL + "/nope")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 {
		t.Fatalf("other path: %d", resp.StatusCode)
	}
}
