package httpapi

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/apihook"
	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
)

// fakeServer is a Server over one fake gateway (node 0xfa): no real clients,
// just the command path.
func fakeServer(tb testing.TB) *Server {
	tb.Helper()
	g := linkertest.NewGateway(tb, 0xfa)
	g.Quiet = true
	l, err := linker.New(linker.Config{Source: linkertest.NewSource(g).Run, Lazy: true})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = l.Close() })
	api := apihook.NewAPI(l).(*businessworker.API)
	if err := api.Flush(context.Background()); err != nil {
		tb.Fatal(err)
	}
	s, err := New(Config{API: api, Secret: secret})
	if err != nil {
		tb.Fatal(err)
	}
	return s
}

// BenchmarkSendToClient measures one authenticated send-to-client request
// through the handler (decode, route, queue), without the network.
func BenchmarkSendToClient(b *testing.B) {
	s := fakeServer(b)
	body := `{"client_id":"` + clientid.ID{Node: 0xfa, Conn: 7}.String() + `","text":"a chat message of about sixty-four bytes, as a chat would send"}`
	b.ReportAllocs()
	for b.Loop() {
		req := httptest.NewRequest("POST", "/v1/send-to-client", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d: %s", w.Code, w.Body)
		}
	}
}

// FuzzCommandBody: any authenticated POST gets an answer that is not a
// server error (a bad body is a 400), and never a panic.
func FuzzCommandBody(f *testing.F) {
	id := clientid.ID{Node: 0xfa, Conn: 7}.String()
	f.Add("/v1/send-to-client", `{"client_id":"`+id+`","text":"x"}`)
	f.Add("/v1/send-to-all", `{"binary":"AQI=","exclude":["`+id+`"],"clients":[]}`)
	f.Add("/v1/send-to-group", `{"groups":["0",""],"text":"x"}`)
	f.Add("/v1/update-session", `{"client_id":"`+id+`","session":{"a":"b"},"delete":["c"]}`)
	f.Add("/v1/close-client", `{"client_id":"`+id+`","immediate":true}`)
	f.Add("/v1/send-to-uid", `{"uid":1}`)
	f.Add("/v1/ungroup", `[`)
	s := fakeServer(f)
	f.Fuzz(func(t *testing.T, path, body string) {
		u, err := url.Parse("http://x" + path)
		if err != nil || !strings.HasPrefix(path, "/v1/") {
			return // not a request path
		}
		req := httptest.NewRequest("POST", "/", strings.NewReader(body))
		req.URL, req.RequestURI = u, u.RequestURI()
		req.Header.Set("Authorization", "Bearer "+secret)
		w := httptest.NewRecorder()
		s.ServeHTTP(w, req)
		// The gateway is fake and always answers: a 5xx here is a bug.
		if w.Code >= 500 || w.Code == http.StatusUnauthorized {
			t.Fatalf("%s %q: status %d: %s", path, body, w.Code, w.Body)
		}
	})
}
