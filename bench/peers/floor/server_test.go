package main

import (
	"bytes"
	"net/netip"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

func TestFloorBroadcasts(t *testing.T) {
	s, err := newServer(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve() }()
	defer func() {
		s.stop()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("serve: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("serve did not return after stop")
		}
	}()
	ap, err := s.addr()
	if err != nil {
		t.Fatal(err)
	}
	url := "ws://" + ap.String() + "/"

	var clients []*websocket.Conn
	for range 3 {
		c, _, err := websocket.DefaultDialer.Dial(url, nil)
		if err != nil {
			t.Fatal(err) // also fails on a wrong Sec-WebSocket-Accept
		}
		defer func() { _ = c.Close() }()
		clients = append(clients, c)
	}
	// The server marks a client upgraded before it answers the handshake,
	// so every dialled client gets the broadcasts.
	big := bytes.Repeat([]byte("x"), 300) // 16-bit length form
	for _, msg := range [][]byte{[]byte("hello"), big} {
		if err := clients[0].WriteMessage(websocket.TextMessage, msg); err != nil {
			t.Fatal(err)
		}
		for i, c := range clients {
			_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
			op, got, err := c.ReadMessage()
			if err != nil || op != websocket.TextMessage || !bytes.Equal(got, msg) {
				t.Fatalf("client %d: op %d, %d bytes, %v", i, op, len(got), err)
			}
		}
	}
}

// A client of ?group=a reaches the members of a only; a client with no group
// still reaches everyone; a dropped member leaves its group.
func TestFloorGroups(t *testing.T) {
	s, err := newServer(netip.MustParseAddrPort("127.0.0.1:0"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- s.serve() }()
	defer func() {
		s.stop()
		<-done
	}()
	ap, err := s.addr()
	if err != nil {
		t.Fatal(err)
	}
	dial := func(q string) *websocket.Conn {
		c, _, err := websocket.DefaultDialer.Dial("ws://"+ap.String()+"/"+q, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = c.Close() })
		return c
	}
	a1, a2, b1, all := dial("?group=a"), dial("?x=1&group=a"), dial("?group=b"), dial("")
	expect := func(c *websocket.Conn, want string) {
		t.Helper()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, got, err := c.ReadMessage()
		if err != nil || string(got) != want {
			t.Fatalf("got %q, %v; want %q", got, err, want)
		}
	}
	if err := a1.WriteMessage(websocket.TextMessage, []byte("to-a")); err != nil {
		t.Fatal(err)
	}
	expect(a1, "to-a")
	expect(a2, "to-a")
	// b1 and the group-less client must not get it: their next message is
	// the broadcast below.
	if err := all.WriteMessage(websocket.TextMessage, []byte("to-all")); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*websocket.Conn{a1, a2, b1, all} {
		expect(c, "to-all")
	}
	if got := groupOf([]byte("GET /?group=7 HTTP/1.1")); got != "7" {
		t.Fatalf("groupOf: %q", got)
	}
}
