package gateway

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// echo runs a worker that echoes every message to its client, joins every
// client to one group and acks, until stop is closed.
func echo(l *testLink, stop <-chan struct{}, wg *sync.WaitGroup) {
	defer wg.Done()
	for {
		select {
		case <-stop:
			return
		case ev := <-l.events:
			var cmds []*pb.Command
			switch {
			case ev.GetConnect() != nil:
				cmds = append(cmds, &pb.Command{Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: ev.GetConn(), Groups: []string{"all"}}}})
			case ev.GetMessage() != nil:
				cmds = append(cmds, &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{
					Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{ev.GetConn()}, Data: ev.GetMessage().GetData()}}})
			}
			l.sendMu.Lock()
			err := l.stream.Send(&pb.LinkRequest{Commands: cmds, Ack: ev.GetSeq()})
			l.sendMu.Unlock()
			if err != nil {
				return
			}
		}
	}
}

// Clients chat while workers echo and one worker crashes: every message is
// echoed at least once, nothing deadlocks, and shutdown is clean.
func TestStressEchoWithWorkerCrash(t *testing.T) {
	tg := startGateway(t, Config{})
	stop := make(chan struct{})
	var wg sync.WaitGroup
	w1 := dialLink(t, tg.lan, "", "w1", true)
	w2 := dialLink(t, tg.lan, "", "w2", true)
	wg.Add(2)
	go echo(w1, stop, &wg)
	go echo(w2, stop, &wg)
	defer func() { close(stop); wg.Wait() }()

	const clients, msgs = 12, 40
	errs := make(chan error, clients)
	var cwg sync.WaitGroup
	for i := range clients {
		c := dialWS(t, tg.public, "/", nil)
		cwg.Add(1)
		go func() {
			defer cwg.Done()
			got := map[string]bool{}
			go func() {
				for j := range msgs {
					if err := c.WriteMessage(websocket.TextMessage, fmt.Appendf(nil, "%d-%d", i, j)); err != nil {
						return
					}
				}
			}()
			_ = c.SetReadDeadline(time.Now().Add(waitFor))
			for len(got) < msgs {
				_, data, err := c.ReadMessage()
				if err != nil {
					errs <- fmt.Errorf("client %d after %d echoes: %w", i, len(got), err)
					return
				}
				if string(data) != "x" { // the broadcast
					got[string(data)] = true
				}
			}
			errs <- nil
		}()
	}
	// A broadcast and a crash while the clients chat.
	push := dialLink(t, tg.lan, "", "p", false)
	push.commands(&pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_GROUPS, Groups: []string{"all"}, Data: []byte("x")}}})
	w1.close()
	cwg.Wait()
	for range clients {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
}
