package businessworker

import (
	"maps"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// An event read by the gateway before it applied this worker's write-backs
// sees them laid over its session, sets and deletes, in order; once its
// version shows a write-back applied, that one is no longer laid over.
func TestClientStatesReadYourWrites(t *testing.T) {
	s := clientStates{maxAge: time.Minute, m: map[clientid.ID]*clientState{}}
	id := clientid.ID{Node: 1, Conn: 2}
	now := time.Now()
	ev := func(v uint64, session map[string]string) *pb.Event {
		return &pb.Event{Conn: 2, Session: session, SessionVersion: v}
	}
	connect := &pb.Event{Conn: 2, SessionVersion: 3, Session: map[string]string{"a": "1", "b": "1"},
		Kind: &pb.Event_Connect{Connect: &pb.Connect{RemoteAddr: "r"}}}
	remote, sess, v := s.begin(id, connect, now)
	if remote != "r" || v != 3 || !maps.Equal(sess, map[string]string{"a": "1", "b": "1"}) {
		t.Fatalf("connect: %q %v %d", remote, sess, v)
	}
	s.wrote(id, map[string]string{"c": "1"}, []string{"a"}, v, now) // leads to 4
	gw := map[string]string{"a": "1", "b": "1"}
	_, sess, v = s.begin(id, ev(3, gw), now)
	if want := map[string]string{"b": "1", "c": "1"}; v != 4 || !maps.Equal(sess, want) {
		t.Fatalf("before the first write-back: %v %d, want %v 4", sess, v, want)
	}
	if !maps.Equal(gw, map[string]string{"a": "1", "b": "1"}) {
		t.Fatalf("the event's own session was modified: %v", gw)
	}
	s.wrote(id, map[string]string{"b": "2"}, nil, v, now) // leads to 5
	_, sess, v = s.begin(id, ev(4, map[string]string{"b": "1", "c": "1", "x": "api"}), now)
	if want := map[string]string{"b": "2", "c": "1", "x": "api"}; v != 5 || !maps.Equal(sess, want) {
		t.Fatalf("after the first write-back: %v %d, want %v 5", sess, v, want)
	}
	applied := map[string]string{"b": "2", "c": "1", "x": "api2"}
	_, sess, v = s.begin(id, ev(6, applied), now)
	if v != 6 || !maps.Equal(sess, applied) || len(s.m[id].writes) != 0 {
		t.Fatalf("after both: %v %d (writes %v)", sess, v, s.m[id].writes)
	}
	// A change queued longer than MaxQueueAge ago was applied or dropped
	// unsent: it is not laid over events any more.
	s.wrote(id, map[string]string{"late": "1"}, nil, v, now)
	_, sess, _ = s.begin(id, ev(6, applied), now.Add(30*time.Second))
	if sess["late"] != "1" {
		t.Fatalf("change not laid over within MaxQueueAge: %v", sess)
	}
	_, sess, v = s.begin(id, ev(6, applied), now.Add(2*time.Minute))
	if v != 6 || !maps.Equal(sess, applied) {
		t.Fatalf("change older than MaxQueueAge laid over: %v %d", sess, v)
	}
	if n := s.sweep(func(clientid.ID) bool { return true }, now.Add(3*time.Minute)); n != 1 || s.len() != 0 {
		t.Fatalf("idle sweep forgot %d, left %d", n, s.len())
	}
}
