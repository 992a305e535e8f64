package e2e

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// connectReplier answers OnConnect after a delay with the uid, group and
// session named by the query (?uid=U), or refuses (?refuse=1) or fails
// (?fail=1). Every message is answered with what the handler sees of the
// client, then a send to the client's group.
type connectReplier struct {
	businessworker.BaseHandler
	delay    time.Duration
	messages sync.Map // uid -> *atomic.Int64: messages handled
}

func (h *connectReplier) OnConnect(ctx context.Context, e businessworker.ConnectEvent) (businessworker.ConnectReply, error) {
	q := e.Handshake.Query()
	time.Sleep(h.delay) // the client's first message is sent meanwhile
	switch {
	case q.Get("refuse") == "bad-code": // a code no server may send
		return businessworker.ConnectReply{Refuse: &businessworker.Refusal{Code: 1005, Reason: "go away"}}, nil
	case q.Get("refuse") != "":
		return businessworker.ConnectReply{Refuse: &businessworker.Refusal{Code: 4001, Reason: "go away"}}, nil
	case q.Get("fail") != "":
		return businessworker.ConnectReply{}, errors.New("database down")
	}
	uid := q.Get("uid")
	e.Client.Session()["via"] = "handler" // merged with the reply's keys
	return businessworker.ConnectReply{
		UID:     uid,
		Groups:  []string{"room-" + uid},
		Session: map[string]string{"who": uid},
	}, nil
}

func (h *connectReplier) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c := e.Client
	n, _ := h.messages.LoadOrStore(c.UID(), new(atomic.Int64))
	n.(*atomic.Int64).Add(1)
	s := c.Session()
	_ = c.Send(ctx, businessworker.Text(fmt.Sprintf("uid=%s who=%s via=%s", c.UID(), s["who"], s["via"])))
	if c.UID() != "" {
		_ = c.Worker().SendToGroup(ctx, "room-"+c.UID(), businessworker.Text("group "+c.UID()))
	}
}

// TestE2EConnectReplyBeforeFirstMessage: the uid, group and session an
// OnConnect reply sets are in place when the client's first message is
// routed, although the client sends it right after the handshake, while
// OnConnect is still running (a burst of clients at once); and the first
// message of a refused client reaches no handler. This needs the gateway
// to hold a client's messages until its Connect event is acknowledged, and
// to apply a link's commands before its acks.
func TestE2EConnectReplyBeforeFirstMessage(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("gw1", nil)
	h := &connectReplier{delay: 150 * time.Millisecond}
	c.addWorker("w1", h)
	c.waitLinked(1)

	const n = 20
	clients := make([]*client, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			cl := dial(t, fmt.Sprintf("%s?uid=u%d", g.ws, i))
			cl.send("first") // at once: OnConnect has not returned yet
			clients[i] = cl
		})
	}
	refused := dial(t, g.ws+"?refuse=1")
	refused.send("first")
	wg.Wait()
	for i, cl := range clients {
		cl.expect(fmt.Sprintf("uid=u%d who=u%d via=handler", i, i))
		cl.expect(fmt.Sprintf("group u%d", i))
	}
	if code := refused.closeCode(); code != 4001 {
		t.Fatalf("refused client closed with %d, want 4001", code)
	}
	if v, found := h.messages.Load(""); found {
		t.Fatalf("%d messages of refused clients reached OnMessage", v.(*atomic.Int64).Load())
	}
}

// TestE2EConnectReplyRefuses: a refused client gets the reply's close code
// and reason (DefaultRefusalCode for a code no server may send); an
// OnConnect error closes the client with 1011; the worker goes on serving.
func TestE2EConnectReplyRefuses(t *testing.T) {
	c := newCluster(t)
	g := c.addGateway("gw1", nil)
	h := &connectReplier{delay: 100 * time.Millisecond}
	w := c.addWorker("w1", h)
	c.waitLinked(1)

	refused := dial(t, g.ws+"?refuse=1")
	failed := dial(t, g.ws+"?fail=1")
	badCode := dial(t, g.ws+"?refuse=bad-code")
	if code := refused.closeCode(); code != 4001 {
		t.Fatalf("refused client closed with %d, want 4001", code)
	}
	if code := failed.closeCode(); code != 1011 {
		t.Fatalf("failed client closed with %d, want 1011", code)
	}
	if code := badCode.closeCode(); code != businessworker.DefaultRefusalCode {
		t.Fatalf("client refused with an invalid code closed with %d, want %d", code, businessworker.DefaultRefusalCode)
	}
	// A client accepted after them is served.
	ok := dial(t, g.ws+"?uid=ok")
	eventually(t, "uid ok bound", func() bool {
		on, _ := w.IsUIDOnline(context.Background(), "ok")
		return on
	})
	ok.send("hi")
	ok.expect("uid=ok who=ok via=handler")
	ok.expect("group ok")
}
