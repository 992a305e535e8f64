package wsconn_test

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/internal/wsconn"
)

// A server upgrades a connection, reads a client message and echoes it.
func Example() {
	serverConn, clientConn := net.Pipe()
	defer serverConn.Close()

	// The client side: any RFC 6455 client, here gorilla/websocket.
	go func() {
		d := websocket.Dialer{NetDial: func(string, string) (net.Conn, error) { return clientConn, nil }}
		c, _, err := d.Dial("ws://example.com/chat?room=1", nil)
		if err != nil {
			fmt.Println("dial:", err)
			return
		}
		defer c.Close()
		_ = c.WriteMessage(websocket.TextMessage, []byte("hello"))
		_, echo, _ := c.ReadMessage()
		fmt.Printf("client got %q\n", echo)
	}()

	_ = serverConn.SetDeadline(time.Now().Add(5 * time.Second)) // the handshake timeout
	hs, err := wsconn.Upgrade(serverConn, &wsconn.UpgradeConfig{
		Check: func(h *wsconn.Handshake) error {
			if h.Path != "/chat" {
				return &wsconn.RejectError{Status: http.StatusNotFound, Reason: "no such endpoint"}
			}
			return nil
		},
	})
	if err != nil {
		fmt.Println("upgrade:", err)
		return
	}
	fmt.Println("path", hs.Path, "query", hs.RawQuery)

	rd := wsconn.Reader{Limits: wsconn.Limits{MaxMessageSize: 64 << 10}}
	for {
		f, err := rd.ReadFrame(serverConn)
		var ce *wsconn.CloseError
		switch {
		case errors.As(err, &ce):
			_, _ = serverConn.Write(wsconn.AppendClose(nil, ce.Code, ce.Reason))
			return
		case err != nil:
			return // the client went away
		}
		switch f.Kind {
		case wsconn.KindMessage:
			fmt.Printf("server got %q\n", f.Payload)
			_, _ = serverConn.Write(wsconn.AppendMessage(nil, f.Binary, f.Payload))
		case wsconn.KindPing:
			_, _ = serverConn.Write(wsconn.AppendPong(nil, f.Payload))
		case wsconn.KindClose:
			_, _ = serverConn.Write(wsconn.AppendClose(nil, wsconn.CloseNormal, ""))
			return
		}
	}
	// Output:
	// path /chat query room=1
	// server got "hello"
	// client got "hello"
}

// A broadcast is encoded once and the same bytes written to every client.
func ExampleAppendMessage() {
	frame := wsconn.AppendMessage(make([]byte, 0, wsconn.FrameSize(2)), false, []byte("hi"))
	fmt.Printf("% x\n", frame)
	// Output: 81 02 68 69
}

func ExampleAppendClose() {
	fmt.Printf("% x\n", wsconn.AppendClose(nil, wsconn.CloseSlowConsumer, "slow"))
	// Output: 88 06 0f a0 73 6c 6f 77
}
