// Command centrifuge is a peer in gatewayworker's fan-out benchmark built on
// github.com/centrifugal/centrifuge: clients connect anonymously, subscribe
// to one channel and publish into it; the node broadcasts every publication
// to every subscriber (in-memory broker, one node). gwbench speaks to it with
// --proto centrifuge and the URL ws://HOST:PORT/connection/websocket.
//
// By default each publication goes out in its own frame
// (--max-messages-in-frame 1), as the workload asks; 0 restores centrifuge's
// batching of queued messages into one frame.
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

	"github.com/centrifugal/centrifuge"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:7272", "listen address")
	channel := flag.String("channel", "chat", "the only channel clients may use")
	inFrame := flag.Int("max-messages-in-frame", 1,
		"messages centrifuge may join into one WebSocket frame (0: its default, 16)")
	flag.Parse()

	node, err := centrifuge.New(centrifuge.Config{LogLevel: centrifuge.LogLevelError, LogHandler: func(e centrifuge.LogEntry) {
		log.Printf("centrifuge: %s %v", e.Message, e.Fields)
	}})
	if err != nil {
		log.Fatal(err)
	}
	node.OnConnecting(func(context.Context, centrifuge.ConnectEvent) (centrifuge.ConnectReply, error) {
		return centrifuge.ConnectReply{
			Credentials: &centrifuge.Credentials{UserID: ""},
			// The workload is one WebSocket message per delivery: by default
			// centrifuge's writer joins up to 16 queued messages into one
			// frame (newline-separated JSON), which the other servers do not.
			MaxMessagesInFrame: *inFrame,
		}, nil
	})
	node.OnConnect(func(c *centrifuge.Client) {
		c.OnSubscribe(func(e centrifuge.SubscribeEvent, cb centrifuge.SubscribeCallback) {
			if e.Channel != *channel {
				cb(centrifuge.SubscribeReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			cb(centrifuge.SubscribeReply{}, nil)
		})
		c.OnPublish(func(e centrifuge.PublishEvent, cb centrifuge.PublishCallback) {
			if e.Channel != *channel {
				cb(centrifuge.PublishReply{}, centrifuge.ErrorPermissionDenied)
				return
			}
			cb(centrifuge.PublishReply{}, nil) // nil Result: the node publishes
		})
	})
	if err := node.Run(); err != nil {
		log.Fatal(err)
	}

	mux := http.NewServeMux()
	mux.Handle("/connection/websocket", centrifuge.NewWebsocketHandler(node, centrifuge.WebsocketConfig{
		CheckOrigin: func(*http.Request) bool { return true },
	}))
	srv := &http.Server{Addr: *listen, Handler: mux, ReadHeaderTimeout: 10 * time.Second}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		shutdownCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
		_ = node.Shutdown(shutdownCtx)
	}()
	log.Printf("centrifuge peer listening on %s", *listen)
	if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
		log.Fatal(err)
	}
}
