package register

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// maxBatch bounds the gateways sent in one WatchResponse.
const maxBatch = 256

// service implements pb.RegisterServer for a Register.
type service struct {
	pb.UnimplementedRegisterServer
	r *Register
}

var errShuttingDown = status.Error(codes.Unavailable, "register: shutting down")

// Announce implements pb.RegisterServer.
func (s *service) Announce(stream grpc.BidiStreamingServer[pb.AnnounceRequest, pb.AnnounceResponse]) error {
	r := s.r
	ctx := stream.Context()
	reqs := make(chan *pb.AnnounceRequest)
	recvErr := make(chan error, 1)
	// Recv blocks until the stream ends, which happens when this handler
	// returns; r.wg owns the goroutine.
	r.wg.Go(func() {
		for {
			m, err := stream.Recv()
			if err != nil {
				recvErr <- err
				return
			}
			select {
			case reqs <- m:
			case <-ctx.Done():
				return
			}
		}
	})

	var (
		info  *pb.GatewayInfo
		ttl   time.Duration
		token uint64
	)
	defer func() {
		// Broken without leave: the lease lives its TTL from now, unless
		// another stream took the node id over.
		if info != nil && r.release(info.GetNodeId(), token) {
			if err := r.endLease(info, ttl); err != nil && !errors.Is(err, ErrClosed) {
				r.log.Warn("lease not refreshed at stream end", "node_id", nodeHex(info.GetNodeId()), "err", err)
			}
			r.log.Info("announce stream ended, lease runs its TTL", "node_id", nodeHex(info.GetNodeId()), "ttl", ttl)
		}
	}()
	for {
		var m *pb.AnnounceRequest
		select {
		case <-r.stopping:
			return errShuttingDown
		case err := <-recvErr:
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		case m = <-reqs:
		}
		if gw := m.GetGateway(); gw != nil {
			if !validGateway(gw) {
				return status.Error(codes.InvalidArgument, "register: gateway needs a node id and a LAN address")
			}
			if info != nil && gw.GetNodeId() != info.GetNodeId() {
				return status.Error(codes.InvalidArgument, "register: node id changed on an announce stream")
			}
			if info == nil {
				token = r.claim(gw.GetNodeId())
				r.log.Info("gateway announced", "node_id", nodeHex(gw.GetNodeId()), "lan_addr", gw.GetLanAddr(), "peer", peerAddr(ctx))
			}
			info = cloneInfo(gw)
			ttl = r.ttl(m.GetTtlMs())
		} else if info == nil {
			return status.Error(codes.InvalidArgument, "register: first announce message needs the gateway")
		}
		if m.GetLeave() {
			if r.release(info.GetNodeId(), token) {
				if err := r.store.Delete(info.GetNodeId()); err != nil {
					return status.Error(codes.Unavailable, fmt.Sprintf("register: leave: %v", err))
				}
				r.log.Info("gateway left", "node_id", nodeHex(info.GetNodeId()))
			}
			info = nil
			_ = stream.Send(s.answer(ttl))
			return nil
		}
		if !r.owns(info.GetNodeId(), token) {
			// Another stream announced this node id since; take it back.
			token = r.claim(info.GetNodeId())
		}
		if err := r.store.Put(info, ttl); err != nil {
			return status.Error(codes.Unavailable, fmt.Sprintf("register: store: %v", err))
		}
		if err := stream.Send(s.answer(ttl)); err != nil {
			return err
		}
	}
}

func (s *service) answer(ttl time.Duration) *pb.AnnounceResponse {
	return &pb.AnnounceResponse{
		KeepaliveIntervalMs: uint32(s.r.keepalive(ttl).Milliseconds()),
		Register:            s.r.cfg.Name,
	}
}

// Watch implements pb.RegisterServer.
func (s *service) Watch(_ *pb.WatchRequest, stream grpc.ServerStreamingServer[pb.WatchResponse]) error {
	r := s.r
	sub, err := r.store.Watch(r.cfg.WatchBuffer)
	if err != nil {
		return status.Error(codes.Unavailable, fmt.Sprintf("register: watch: %v", err))
	}
	defer sub.Stop()
	if err := stream.Send(&pb.WatchResponse{Kind: pb.WatchResponse_KIND_SNAPSHOT, Gateways: sub.Snapshot}); err != nil {
		return err
	}
	ctx := stream.Context()
	for {
		var c Change
		var ok bool
		select {
		case <-r.stopping:
			return errShuttingDown
		case <-ctx.Done():
			return ctx.Err()
		case c, ok = <-sub.C:
		}
		if !ok {
			if errors.Is(sub.Err(), ErrSlowWatcher) {
				r.log.Warn("slow watcher dropped", "peer", peerAddr(ctx))
				return status.Error(codes.ResourceExhausted, ErrSlowWatcher.Error())
			}
			return errShuttingDown
		}
		// Batch the changes already queued behind c while their kind holds.
		msg := &pb.WatchResponse{Kind: wireKind(c.Kind), Gateways: []*pb.GatewayInfo{c.Gateway}}
		var next *Change
	batch:
		for len(msg.Gateways) < maxBatch {
			select {
			case n, ok := <-sub.C:
				if !ok {
					break batch // the next receive reports why
				}
				if n.Kind != c.Kind {
					next = &n
					break batch
				}
				msg.Gateways = append(msg.Gateways, n.Gateway)
			default:
				break batch
			}
		}
		if err := stream.Send(msg); err != nil {
			return err
		}
		if next != nil {
			if err := stream.Send(&pb.WatchResponse{Kind: wireKind(next.Kind), Gateways: []*pb.GatewayInfo{next.Gateway}}); err != nil {
				return err
			}
		}
	}
}

func wireKind(k ChangeKind) pb.WatchResponse_Kind {
	if k == ChangeRemoved {
		return pb.WatchResponse_KIND_REMOVED
	}
	return pb.WatchResponse_KIND_ADDED
}

func nodeHex(id uint64) string { return fmt.Sprintf("%016x", id) }

func peerAddr(ctx context.Context) string {
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		return p.Addr.String()
	}
	return ""
}
