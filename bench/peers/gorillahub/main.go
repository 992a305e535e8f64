// Command gorillahub is the classic gorilla/websocket chat hub, as a peer in
// gatewayworker's fan-out benchmark: a read pump and a write pump goroutine
// per connection, and one hub goroutine that broadcasts every message to
// every client's send channel (the sender included).
//
// Unlike gorilla's chat example, the write pump does NOT pack the queued
// messages into one frame (newline-joined): the workload is one WebSocket
// message per delivered message, for every server alike.
package main

import (
	"context"
	"errors"
	"flag"
	"log"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gorilla/websocket"
)

const (
	writeWait   = 10 * time.Second
	sendBuffer  = 256 // a client whose queue is full is dropped, as in the example
	maxMsgBytes = 64 << 10
)

type client struct {
	conn *websocket.Conn
	send chan []byte
}

// hub owns the client set; only its goroutine touches it.
type hub struct {
	register   chan *client
	unregister chan *client
	broadcast  chan []byte
	clients    map[*client]struct{}
}

func (h *hub) run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case c := <-h.register:
			h.clients[c] = struct{}{}
		case c := <-h.unregister:
			if _, ok := h.clients[c]; ok {
				delete(h.clients, c)
				close(c.send)
			}
		case msg := <-h.broadcast:
			for c := range h.clients {
				select {
				case c.send <- msg:
				default: // slow consumer
					delete(h.clients, c)
					close(c.send)
				}
			}
		}
	}
}

func (c *client) readPump(ctx context.Context, h *hub) {
	defer func() {
		select {
		case h.unregister <- c:
		case <-ctx.Done():
		}
		_ = c.conn.Close()
	}()
	c.conn.SetReadLimit(maxMsgBytes)
	for {
		_, msg, err := c.conn.ReadMessage()
		if err != nil {
			return
		}
		select {
		case h.broadcast <- msg:
		case <-ctx.Done():
			return
		}
	}
}

func (c *client) writePump() {
	defer func() { _ = c.conn.Close() }()
	for msg := range c.send {
		_ = c.conn.SetWriteDeadline(time.Now().Add(writeWait))
		// One frame per message: no batching of queued messages here.
		if err := c.conn.WriteMessage(websocket.TextMessage, msg); err != nil {
			return
		}
	}
	_ = c.conn.WriteMessage(websocket.CloseMessage, websocket.FormatCloseMessage(websocket.CloseGoingAway, ""))
}

func main() {
	listen := flag.String("listen", "127.0.0.1:7272", "listen address")
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	h := &hub{
		register:   make(chan *client),
		unregister: make(chan *client),
		broadcast:  make(chan []byte, 256),
		clients:    make(map[*client]struct{}),
	}
	go h.run(ctx)

	upgrader := websocket.Upgrader{
		ReadBufferSize:  1024,
		WriteBufferSize: 1024,
		CheckOrigin:     func(*http.Request) bool { return true },
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		conn, err := upgrader.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		c := &client{conn: conn, send: make(chan []byte, sendBuffer)}
		select {
		case h.register <- c:
		case <-ctx.Done():
			_ = conn.Close()
			return
		}
		go c.writePump()
		go c.readPump(ctx, h)
	})
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()
	log.Printf("gorillahub listening on %s", *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
