package shootout

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gatewayworker/gatewayworker/internal/testcluster"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func dial(t *testing.T, url string) *websocket.Conn {
	t.Helper()
	c, resp, err := websocket.DefaultDialer.Dial(url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func send(t *testing.T, c *websocket.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(websocket.TextMessage, []byte(msg)); err != nil {
		t.Fatal(err)
	}
}

// next returns the next message as {type, payload} with the payload
// compacted, and fails if it is not a text message of that shape.
func next(t *testing.T, c *websocket.Conn) (typ, payload string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(testcluster.Wait))
	kind, b, err := c.ReadMessage()
	if err != nil {
		t.Fatal(err)
	}
	var m struct {
		Type    string          `json:"type"`
		Payload json.RawMessage `json:"payload"`
	}
	if kind != websocket.TextMessage || json.Unmarshal(b, &m) != nil {
		t.Fatalf("got %q (kind %d), want a JSON text message", b, kind)
	}
	return m.Type, string(m.Payload)
}

// Two clients on two gateways: an echo comes back to its sender only; a
// broadcast reaches both, then its result reaches the sender; messages
// outside the protocol are ignored.
func TestShootoutProtocol(t *testing.T) {
	cl := testcluster.NewCluster(t, "shootout")
	g1 := cl.AddGateway("g1", nil)
	g2 := cl.AddGateway("g2", nil)
	cl.AddWorker(&Handler{})
	a, b := dial(t, g1.WS), dial(t, g2.WS)
	testcluster.WaitFor(t, "clients connected", func() bool { return g1.Stats().Clients == 1 && g2.Stats().Clients == 1 })

	echo := `{"type":"echo","payload":{"sendTime":"1700000000000","text":"hi"}}`
	send(t, a, echo)
	send(t, a, `not json`)
	send(t, a, `{"type":"unknown","payload":1}`)
	if err := a.WriteMessage(websocket.BinaryMessage, []byte(echo)); err != nil {
		t.Fatal(err)
	}
	_ = a.SetReadDeadline(time.Now().Add(testcluster.Wait))
	if _, got, err := a.ReadMessage(); err != nil || string(got) != echo {
		t.Fatalf("echo: %q, %v; want the message unchanged", got, err)
	}

	send(t, a, `{"type":"broadcast","payload":{"sendTime":"1700000000001","n":[1,2]}}`)
	const want = `{"sendTime":"1700000000001","n":[1,2]}`
	// b's first message is the broadcast: it never saw the echo or the
	// ignored messages.
	if typ, p := next(t, b); typ != TypeBroadcast || p != want {
		t.Fatalf("other client got %s %s", typ, p)
	}
	if typ, p := next(t, a); typ != TypeBroadcast || p != want {
		t.Fatalf("sender got %s %s first, want the broadcast", typ, p)
	}
	if typ, p := next(t, a); typ != TypeBroadcastResult || p != want {
		t.Fatalf("sender got %s %s, want the broadcastResult", typ, p)
	}
}

func TestEncode(t *testing.T) {
	for _, tc := range []struct{ typ, payload, want string }{
		{TypeBroadcast, `{"a":1}`, `{"type":"broadcast","payload":{"a":1}}`},
		{TypeBroadcastResult, ``, `{"type":"broadcastResult","payload":null}`},
		{TypeEcho, `"x"`, `{"type":"echo","payload":"x"}`},
	} {
		got := Encode(tc.typ, json.RawMessage(tc.payload))
		if string(got) != tc.want || !json.Valid(got) {
			t.Errorf("Encode(%q, %q) = %s, want %s", tc.typ, tc.payload, got, tc.want)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	payload := json.RawMessage(`{"sendTime":"1700000000000"}`)
	b.ReportAllocs()
	for b.Loop() {
		_ = Encode(TypeBroadcast, payload)
	}
}
