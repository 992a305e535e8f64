package gateway

import (
	"errors"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// FuzzLinkRequest feeds arbitrary LinkRequest bytes to the command decoder
// and applier: it must never panic, and a command with an id always gets
// exactly one reply.
func FuzzLinkRequest(f *testing.F) {
	seeds := []*pb.LinkRequest{
		{Ack: 3},
		{Ack: ^uint64(0)},
		{Acks: []*pb.AckRange{{First: 2, Last: 4}, {First: 1, Last: 1}, {First: 4, Last: 5}}},
		{Acks: []*pb.AckRange{{First: 1, Last: ^uint64(0)}}},
		{Acks: []*pb.AckRange{{First: 3, Last: 2}}},
		{Hello: &pb.Hello{LinkerId: "again"}},
		{Commands: []*pb.Command{{Id: 1}}},
		{Commands: []*pb.Command{{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_ALL, Data: []byte("x"), Exclude: []uint64{1, 2, 3, 4, 5, 6, 7, 8, 9}}}}}},
		{Commands: []*pb.Command{{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_GROUPS, Groups: []string{"a", "b"}}}}}},
		{Commands: []*pb.Command{{Id: 2, Op: &pb.Command_JoinGroup{JoinGroup: &pb.Groups{Conn: 1, Groups: []string{"a", ""}}}}}},
		{Commands: []*pb.Command{{Id: 3, Op: &pb.Command_BindUid{BindUid: &pb.Uid{Conn: 2, Uid: "u"}}}}},
		{Commands: []*pb.Command{{Id: 4, Op: &pb.Command_SetSession{SetSession: &pb.SetSession{Conn: 1, Merge: true, Session: map[string]string{"k": "v"}, Delete: []string{"k"}}}}}},
		{Commands: []*pb.Command{{Id: 5, Op: &pb.Command_CloseClient{CloseClient: &pb.CloseClient{Conn: 3, Code: 70000}}}}},
		{Commands: []*pb.Command{{Id: 6, Op: &pb.Command_Query{Query: &pb.Query{Kind: pb.Query_KIND_GROUPS, WithMembers: true}}}}},
		{Commands: []*pb.Command{{Id: 7, Op: &pb.Command_Query{Query: &pb.Query{Kind: 99}}}}},
	}
	for _, s := range seeds {
		b, err := proto.Marshal(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte{0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		var req pb.LinkRequest
		if proto.Unmarshal(data, &req) != nil {
			return
		}
		g, err := New(Config{MaxPending: 1 << 20})
		if err != nil {
			t.Fatal(err)
		}
		for range 3 {
			g.hub.add(newConn(g, discardConn{}, -1))
		}
		// A link in use: hello applied, five events in flight (seqs 1-5)
		// and two not sent yet.
		l := newLink(g, &pb.Hello{LinkerId: "w", Events: true})
		l.cmd.hello = true
		l.welcomed = true
		for i := range 7 {
			ev := &pb.Event{Conn: uint64(i), Kind: &pb.Event_Message{Message: &pb.Message{Data: []byte("x")}}}
			l.push(ev, 10+i, nil, false)
		}
		l.winEvents = 5
		if resp := l.nextBatch(nil, true); len(resp.GetEvents()) != 5 {
			t.Fatalf("sent %d events, want 5", len(resp.GetEvents()))
		}
		err = l.cmd.applyAll(l, &req)
		if err != nil && !errors.Is(err, ErrLinkProtocol) {
			t.Fatalf("applyAll: %v, want nil or ErrLinkProtocol", err)
		}
		// Whatever was acked, what remains is consistent: seqs sent only,
		// bytes matching, nothing lost from pending.
		bytes := 0
		for seq, q := range l.inflight {
			if seq < 1 || seq > 5 || q.ev.GetSeq() != seq {
				t.Fatalf("in flight: seq %d (event seq %d)", seq, q.ev.GetSeq())
			}
			bytes += q.size
		}
		if bytes != l.inflightBytes || len(l.pending) != 2 || l.pendingBytes != 10+5+10+6 {
			t.Fatalf("in flight %d bytes (counted %d); pending %d (%d bytes)", bytes, l.inflightBytes, len(l.pending), l.pendingBytes)
		}
		if err == nil {
			ids := 0
			for _, c := range req.GetCommands() {
				if c.GetId() != 0 {
					ids++
				}
			}
			last := 0
			for _, r := range l.replies {
				if !r.r.GetMore() {
					last++
				}
			}
			if last != ids {
				t.Fatalf("%d replies for %d commands with ids", last, ids)
			}
		}
		// Closing clients start flushers (discardConn never blocks); finish
		// every client so they stop.
		for _, c := range g.hub.snapshot() {
			c.finish(codeAbnormal, "")
		}
		g.connWG.Wait()
	})
}
