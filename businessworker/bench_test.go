package businessworker

import (
	"context"
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	"github.com/gatewayworker/gatewayworker/internal/linker"
	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// BenchmarkSendToClient measures the API path of a send to one client: id
// parsing, command building and queuing, with the batches shipped to a fake
// gateway over loopback gRPC.
func BenchmarkSendToClient(b *testing.B) {
	g := linkertest.NewGateway(b, 0xb1)
	g.Quiet = true
	p := pushAPI(b, linker.Config{Source: linkertest.NewSource(g).Run})
	bg := context.Background()
	if err := p.Flush(bg); err != nil {
		b.Fatal(err)
	}
	id := clientid.ID{Node: 0xb1, Conn: 42}.String()
	msg := Text("a chat message of about sixty-four bytes, as a chat would send")
	b.ReportAllocs()
	for b.Loop() {
		if err := p.SendToClient(bg, id, msg); err != nil {
			b.Fatal(err)
		}
	}
	if err := p.Flush(bg); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkSessionWriteBack measures the worker's session bookkeeping for
// one event of a client whose handler changes one key of a 10-key session:
// begin (with the previous change not yet applied, so laid over), the
// handler's copy, the diff and the record of the write-back.
func BenchmarkSessionWriteBack(b *testing.B) {
	s := clientStates{maxAge: DefaultMaxQueueAge, m: map[clientid.ID]*clientState{}}
	id := clientid.ID{Node: 1, Conn: 2}
	session := map[string]string{}
	for i := range 10 {
		session[fmt.Sprint("key", i)] = fmt.Sprint("value", i)
	}
	connect := &pb.Event{Conn: 2, Session: session, Kind: &pb.Event_Connect{Connect: &pb.Connect{}}}
	s.begin(id, connect, time.Now())
	ev := &pb.Event{Conn: 2, Session: session}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now := time.Now()
		ev.SessionVersion = uint64(max(i-1, 0)) // the gateway applied all but the last change
		_, base, version := s.begin(id, ev, now)
		c := &Client{base: base}
		c.Session()["key3"] = strconv.Itoa(i)
		set, del := c.changes()
		s.wrote(id, set, del, version, now)
		i++
	}
	if n := len(s.m[id].writes); n != 2 { // the one laid over, and the new one
		b.Fatalf("%d changes pending, want 2", n)
	}
}
