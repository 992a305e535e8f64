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
