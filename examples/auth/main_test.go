package main

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	"go.uber.org/goleak"

	"github.com/gatewayworker/gatewayworker/gateway"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A token from the login endpoint opens the gateway; none, or one minted
// with another secret, gets 401.
func TestTokenFromLoginEndpointOpensGateway(t *testing.T) {
	secret := []byte("example secret of 32 bytes......")
	check, err := gateway.HMACTokenCheck(gateway.TokenCheck{Secret: secret})
	if err != nil {
		t.Fatal(err)
	}
	g, err := gateway.New(gateway.Config{OnHandshake: check})
	if err != nil {
		t.Fatal(err)
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
	done := make(chan error, 1)
	go func() { done <- g.Serve(ctx, pub, lan) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()

	login := httptest.NewServer(minter{secret: secret, ttl: time.Minute, ws: "ws://" + pub.Addr().String() + "/chat"})
	defer login.Close()
	resp, err := http.Get(login.URL + "/token?user=alice")
	if err != nil {
		t.Fatal(err)
	}
	var got struct{ Token, URL string }
	err = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if err != nil || got.Token == "" {
		t.Fatalf("login answer %+v, %v", got, err)
	}

	c, _, err := websocket.DefaultDialer.Dial(got.URL, nil)
	if err != nil {
		t.Fatalf("dial with the token: %v", err)
	}
	c.Close()

	other := minter{secret: []byte("not the gateway's secret........"), ttl: time.Minute, ws: "ws://" + pub.Addr().String() + "/"}
	_, forged, err := other.mint("mallory")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"ws://" + pub.Addr().String() + "/", forged} {
		_, resp, err := websocket.DefaultDialer.Dial(u, nil)
		if err == nil || resp == nil || resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("%s: err %v resp %v, want 401", u, err, resp)
		}
		resp.Body.Close()
	}
	if r, _ := http.Get(login.URL + "/token"); r == nil || r.StatusCode != http.StatusBadRequest {
		t.Fatalf("login without a user: %v", r)
	} else {
		r.Body.Close()
	}
}
