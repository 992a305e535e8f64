package register

import (
	"context"
	"io"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// fuzzAnnounceStream serves a fixed list of requests to the Announce
// handler, then io.EOF, and counts the responses.
type fuzzAnnounceStream struct {
	grpc.ServerStream // nil: only the methods below are used
	ctx               context.Context
	reqs              []*pb.AnnounceRequest
	sent              int
}

func (s *fuzzAnnounceStream) Context() context.Context { return s.ctx }

func (s *fuzzAnnounceStream) Recv() (*pb.AnnounceRequest, error) {
	if len(s.reqs) == 0 {
		return nil, io.EOF
	}
	m := s.reqs[0]
	s.reqs = s.reqs[1:]
	return m, nil
}

func (s *fuzzAnnounceStream) Send(*pb.AnnounceResponse) error { s.sent++; return nil }

// splitMessages cuts data into messages, each preceded by its length byte.
func splitMessages(data []byte) [][]byte {
	var out [][]byte
	for len(data) > 0 {
		n := min(int(data[0]), len(data)-1)
		out = append(out, data[1:1+n])
		data = data[1+n:]
	}
	return out
}

func joinMessages(t testing.TB, msgs ...proto.Message) []byte {
	var out []byte
	for _, m := range msgs {
		b, err := proto.Marshal(m)
		if err != nil || len(b) > 255 {
			t.Fatalf("seed: %v (%d bytes)", err, len(b))
		}
		out = append(append(out, byte(len(b))), b...)
	}
	return out
}

// FuzzAnnounce feeds arbitrary announce streams (each message a protobuf
// AnnounceRequest that gRPC would deliver) to the Announce handler: it must
// never panic and must return once the stream ends, and every lease it
// leaves behind is a valid gateway.
func FuzzAnnounce(f *testing.F) {
	gw := &pb.GatewayInfo{NodeId: 7, LanAddr: "10.0.0.1:2900", PublicAddr: "1.2.3.4:7272", Name: "g"}
	f.Add(joinMessages(f, &pb.AnnounceRequest{Gateway: gw, TtlMs: 5000}, &pb.AnnounceRequest{}, &pb.AnnounceRequest{Leave: true}))
	f.Add(joinMessages(f, &pb.AnnounceRequest{Gateway: gw}, &pb.AnnounceRequest{Gateway: &pb.GatewayInfo{NodeId: 8, LanAddr: "x"}}))
	f.Add(joinMessages(f, &pb.AnnounceRequest{TtlMs: 1}))
	f.Add(joinMessages(f, &pb.AnnounceRequest{Gateway: &pb.GatewayInfo{NodeId: 9}}))
	f.Add(joinMessages(f, &pb.AnnounceRequest{Gateway: gw, TtlMs: 1 << 31}, &pb.AnnounceRequest{Gateway: gw, TtlMs: 0}))
	f.Add([]byte{3, 0xff, 0xff, 0xff})
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		var reqs []*pb.AnnounceRequest
		for _, b := range splitMessages(data) {
			var m pb.AnnounceRequest
			if proto.Unmarshal(b, &m) == nil {
				reqs = append(reqs, &m)
			}
		}
		r, err := New(Config{Name: "fuzz"})
		if err != nil {
			t.Fatal(err)
		}
		s := &service{r: r}
		// As gRPC does, the stream's context ends when the handler returns.
		ctx, cancel := context.WithCancel(context.Background())
		stream := &fuzzAnnounceStream{ctx: ctx, reqs: reqs}
		_ = s.Announce(stream)
		cancel()
		r.wg.Wait()
		for _, g := range r.Gateways() {
			if !validGateway(g) {
				t.Fatalf("invalid gateway leased: %v", g)
			}
		}
		if err := r.store.Close(); err != nil {
			t.Fatal(err)
		}
	})
}
