package gateway

import (
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
		l := newLink(g, &pb.Hello{LinkerId: "w"})
		l.cmd.applyAll(l, &req)
		ids := 0
		for _, c := range req.GetCommands() {
			if c.GetId() != 0 {
				ids++
			}
		}
		if len(l.replies) != ids {
			t.Fatalf("%d replies for %d commands with ids", len(l.replies), ids)
		}
		// Closing clients start flushers (discardConn never blocks); finish
		// every client so they stop.
		for _, c := range g.hub.snapshot() {
			c.finish(codeAbnormal, "")
		}
		g.connWG.Wait()
	})
}
