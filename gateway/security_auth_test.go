package gateway

import (
	"errors"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// The built-in token check refuses a client with 401 before the upgrade,
// and admits one with a valid token in the query or a Bearer header.
func TestHMACTokenCheck(t *testing.T) {
	secret := []byte("0123456789abcdef0123456789abcdef")
	check, err := HMACTokenCheck(TokenCheck{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	tg := startGateway(t, Config{OnHandshake: check})
	w := dialLink(t, tg.lan, "", "w1", true)

	good, err := SignToken(secret, "alice", time.Now().Add(time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	expired, _ := SignToken(secret, "alice", time.Now().Add(-time.Hour))
	forged, _ := SignToken([]byte("not the gateway's secret........"), "alice", time.Now().Add(time.Minute))
	tampered := good[:strings.LastIndexByte(good, '.')] + ".AAAA"

	for _, tc := range []struct {
		name, path, auth, reason string
	}{
		{"no token", "/", "", "missing token"},
		{"empty token", "/?token=", "", "missing token"},
		{"garbage", "/?token=abc", "", "invalid token"},
		{"other secret", "/?token=" + forged, "", "invalid token"},
		{"tampered", "/?token=" + tampered, "", "invalid token"},
		{"expired", "/?token=" + expired, "", "token expired"},
		{"token in another parameter", "/?auth=" + good, "", "missing token"},
		{"basic auth", "/", "Basic " + good, "missing token"},
	} {
		hdr := http.Header{}
		if tc.auth != "" {
			hdr.Set("Authorization", tc.auth)
		}
		_, resp, err := websocket.DefaultDialer.Dial("ws://"+tg.public+tc.path, hdr)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: err %v, resp %v; want 401", tc.name, err, resp)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if string(body) != tc.reason {
			t.Errorf("%s: body %q, want %q", tc.name, body, tc.reason)
		}
	}

	dialWS(t, tg.public, "/chat?room=1&token="+url.QueryEscape(good), nil)
	ev := w.connectEvent()
	if q, _ := url.ParseQuery(ev.GetConnect().GetQuery()); q.Get("token") != good || q.Get("room") != "1" {
		t.Fatalf("connect event query %q", ev.GetConnect().GetQuery())
	}
	dialWS(t, tg.public, "/", http.Header{"Authorization": {"Bearer " + good}})
	w.connectEvent()
	eventually(t, "handshakes counted", func() bool { st := tg.Stats(); return st.Rejected == 8 && st.Accepted == 2 })
}

func TestHMACTokenCheckValidates(t *testing.T) {
	if _, err := HMACTokenCheck(TokenCheck{Secret: []byte("short")}); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("short secret: %v", err)
	}
	if _, err := SignToken([]byte("short"), "x", time.Now().Add(time.Minute)); err == nil {
		t.Fatal("SignToken accepted a short secret")
	}
	// A custom parameter and clock.
	secret := []byte("0123456789abcdef0123456789abcdef")
	at := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	check, err := HMACTokenCheck(TokenCheck{Secret: secret, QueryParam: "jwt", Now: func() time.Time { return at }})
	if err != nil {
		t.Fatal(err)
	}
	tok, _ := SignToken(secret, "bob", at.Add(time.Second))
	if err := check(&Handshake{RawQuery: "jwt=" + tok}); err != nil {
		t.Fatalf("valid token refused: %v", err)
	}
	var he *HandshakeError
	if err := check(&Handshake{RawQuery: "token=" + tok}); !errors.As(err, &he) || he.Status != http.StatusUnauthorized {
		t.Fatalf("token in the wrong parameter: %v", err)
	}
}
