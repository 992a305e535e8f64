// Package linkertest provides a fake gateway Link server and a test Source
// for the tests of internal/linker and businessworker.
package linkertest

import (
	"context"
	"net"
	"slices"
	"sync"
	"testing"
	"time"

	"google.golang.org/grpc"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Gateway is a minimal Link server on 127.0.0.1: it answers Hello with
// Welcome, records every LinkRequest, replies to commands with an id (unless
// stalled) and lets the test push responses and break the stream. Fields
// under Mu may be set by the test.
type Gateway struct {
	t    testing.TB
	Info *pb.GatewayInfo
	srv  *grpc.Server

	Mu      sync.Mutex
	Hellos  []*pb.Hello
	Batches []*pb.LinkRequest
	Cmds    []*pb.Command
	Acks    []uint64                    // every seq acked, in the order the acks came
	Stall   bool                        // do not reply
	Answer  func(*pb.Command) *pb.Reply // reply builder (default: empty reply)
	Workers []string                    // sent with Welcome
	Ended   bool                        // the linker closed its sending side
	Quiet   bool                        // record nothing but acks and hellos (benchmarks)
	current *fakeStream
}

type fakeStream struct {
	out chan *pb.LinkResponse
	brk chan struct{}
}

// NewGateway starts a fake gateway with the given node id on 127.0.0.1:0; it
// stops when the test ends.
func NewGateway(t testing.TB, node uint64) *Gateway {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g := &Gateway{
		t:    t,
		Info: &pb.GatewayInfo{NodeId: node, LanAddr: lis.Addr().String(), Name: "fake"},
		srv:  grpc.NewServer(),
	}
	pb.RegisterGatewayServer(g.srv, &fakeService{g: g})
	done := make(chan struct{})
	go func() { defer close(done); _ = g.srv.Serve(lis) }()
	t.Cleanup(func() { g.srv.Stop(); <-done })
	return g
}

type fakeService struct {
	pb.UnimplementedGatewayServer
	g *Gateway
}

func (s *fakeService) Link(stream grpc.BidiStreamingServer[pb.LinkRequest, pb.LinkResponse]) error {
	g := s.g
	first, err := stream.Recv()
	if err != nil {
		return err
	}
	fs := &fakeStream{out: make(chan *pb.LinkResponse, 1024), brk: make(chan struct{})}
	g.Mu.Lock()
	g.Hellos = append(g.Hellos, first.GetHello())
	g.current = fs
	workers := g.Workers
	g.Mu.Unlock()
	if err := stream.Send(&pb.LinkResponse{Welcome: &pb.Welcome{Gateway: g.Info}, Workers: workers, WorkersChanged: true}); err != nil {
		return err
	}
	recvErr := make(chan error, 1)
	go func() {
		for {
			req, err := stream.Recv()
			if err != nil {
				g.Mu.Lock()
				g.Ended = true
				g.Mu.Unlock()
				recvErr <- err
				return
			}
			var replies []*pb.Reply
			g.Mu.Lock()
			if !g.Quiet {
				g.Batches = append(g.Batches, req)
				g.Cmds = append(g.Cmds, req.GetCommands()...)
			}
			if req.GetAck() != 0 {
				g.Acks = append(g.Acks, req.GetAck())
			}
			for _, r := range req.GetAcks() {
				for s := r.GetFirst(); s <= r.GetLast() && r.GetLast()-r.GetFirst() < 1<<20; s++ {
					g.Acks = append(g.Acks, s)
					if s == r.GetLast() {
						break
					}
				}
			}
			stall, answer := g.Stall, g.Answer
			g.Mu.Unlock()
			for _, c := range req.GetCommands() {
				if c.GetId() == 0 || stall {
					continue
				}
				r := &pb.Reply{Id: c.GetId()}
				if answer != nil {
					r = answer(c)
					r.Id = c.GetId()
				}
				replies = append(replies, r)
			}
			if len(replies) > 0 {
				fs.out <- &pb.LinkResponse{Replies: replies}
			}
		}
	}()
	for {
		select {
		case r := <-fs.out:
			if err := stream.Send(r); err != nil {
				return err
			}
		case <-fs.brk:
			return context.Canceled
		case <-recvErr:
			return nil
		}
	}
}

// Push sends a response on the current stream.
func (g *Gateway) Push(r *pb.LinkResponse) {
	g.Mu.Lock()
	fs := g.current
	g.Mu.Unlock()
	if fs == nil {
		g.t.Fatal("no stream")
	}
	fs.out <- r
}

// Break ends the current stream with an error.
func (g *Gateway) Break() {
	g.Mu.Lock()
	fs := g.current
	g.current = nil
	g.Mu.Unlock()
	close(fs.brk)
}

// AckedAll reports whether every seq from 1 to n was acked.
func (g *Gateway) AckedAll(n uint64) bool {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	seen := make(map[uint64]bool, len(g.Acks))
	for _, s := range g.Acks {
		seen[s] = true
	}
	for s := uint64(1); s <= n; s++ {
		if !seen[s] {
			return false
		}
	}
	return true
}

// Snapshot returns copies of what the gateway recorded.
func (g *Gateway) Snapshot() (hellos int, cmds []*pb.Command, batches []*pb.LinkRequest, acks []uint64) {
	g.Mu.Lock()
	defer g.Mu.Unlock()
	return len(g.Hellos), slices.Clone(g.Cmds), slices.Clone(g.Batches), slices.Clone(g.Acks)
}

// Source is a gateway set the test drives; Run has the shape of
// linker.Source.
type Source struct{ sets chan []*pb.GatewayInfo }

// NewSource returns a Source whose first set is gws; with no gws it reports
// nothing until Set is called.
func NewSource(gws ...*Gateway) *Source {
	s := &Source{sets: make(chan []*pb.GatewayInfo, 16)}
	if len(gws) > 0 {
		s.Set(gws...)
	}
	return s
}

// Set reports a new gateway set.
func (s *Source) Set(gws ...*Gateway) {
	infos := make([]*pb.GatewayInfo, len(gws))
	for i, g := range gws {
		infos[i] = g.Info
	}
	s.sets <- infos
}

// Run reports the sets until ctx is done.
func (s *Source) Run(ctx context.Context, onChange func([]*pb.GatewayInfo)) error {
	for {
		select {
		case set := <-s.sets:
			onChange(set)
		case <-ctx.Done():
			return nil
		}
	}
}

// WaitFor polls cond until it holds or the deadline passes.
func WaitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}
