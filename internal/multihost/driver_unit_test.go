//go:build linux

package multihost

import (
	"bufio"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// TestDriver runs the client driver in-process against a loopback echo
// server: the protocol the scenario relies on, without namespaces.
func TestDriver(t *testing.T) {
	up := websocket.Upgrader{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer c.Close()
		for {
			typ, data, err := c.ReadMessage()
			if err != nil {
				return
			}
			if c.WriteMessage(typ, data) != nil {
				return
			}
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	closedAddr := func() string {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		return l.Addr().String()
	}()

	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	exited := make(chan int, 1)
	go func() {
		exited <- runDriver(inR, outW)
		outW.Close()
	}()
	events := make(chan event, 64)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(outR)
		for sc.Scan() {
			var e event
			if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
				t.Errorf("driver printed %q: %v", sc.Text(), err)
				continue
			}
			events <- e
		}
	}()
	do := func(o op) {
		t.Helper()
		b, _ := json.Marshal(o)
		if _, err := inW.Write(append(b, '\n')); err != nil {
			t.Fatal(err)
		}
	}
	next := func(want func(event) bool) event {
		t.Helper()
		timeout := time.After(10 * time.Second)
		for {
			select {
			case e, ok := <-events:
				if !ok {
					t.Fatal("driver output ended")
				}
				if want(e) {
					return e
				}
			case <-timeout:
				t.Fatal("timed out waiting for a driver event")
			}
		}
	}
	reply := func(req int64) event {
		t.Helper()
		return next(func(e event) bool { return e.Ev == evReply && e.Req == req })
	}

	do(op{Op: opWaitTCP, Req: 1, Addr: addr, TimeoutMS: 2000})
	if e := reply(1); e.Err != "" {
		t.Errorf("wait_tcp on a listener: %s", e.Err)
	}
	do(op{Op: opWaitTCP, Req: 2, Addr: closedAddr, TimeoutMS: 200})
	if e := reply(2); e.Err == "" {
		t.Error("wait_tcp on a closed port succeeded")
	}
	do(op{Op: opDial, Req: 3, ID: "x", URL: "ws://" + addr + "/", TimeoutMS: 2000})
	if e := reply(3); e.Err != "" {
		t.Fatalf("dial: %s", e.Err)
	}
	do(op{Op: opDial, Req: 4, ID: "x", URL: "ws://" + addr + "/"})
	if e := reply(4); e.Err == "" {
		t.Error("a second client with the same id was accepted")
	}
	before := time.Now().UnixNano()
	do(op{Op: opSend, ID: "x", Text: "hello"})
	if e := next(func(e event) bool { return e.Ev == evMsg }); e.ID != "x" || e.Text != "hello" || e.At < before {
		t.Errorf("echo = %+v", e)
	}
	do(op{Op: opSend, ID: "nobody", Text: "lost"})
	if e := next(func(e event) bool { return e.Ev == evError }); !strings.Contains(e.Err, "nobody") {
		t.Errorf("send to an unknown client: %+v", e)
	}
	do(op{Op: opClose, Req: 5, ID: "x"})
	reply(5)
	if e := next(func(e event) bool { return e.Ev == evClosed }); e.ID != "x" {
		t.Errorf("closed event = %+v", e)
	}
	do(op{Op: "bogus", Req: 6})
	if e := reply(6); !strings.Contains(e.Err, "unknown op") {
		t.Errorf("unknown op: %+v", e)
	}

	inW.Close()
	select {
	case code := <-exited:
		if code != 0 {
			t.Errorf("driver exit code %d", code)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("driver did not exit when its stdin closed")
	}
	for range events {
	}
}
