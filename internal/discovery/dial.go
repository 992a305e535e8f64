package discovery

import (
	"context"
	"fmt"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/connectivity"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"

	"github.com/gatewayworker/gatewayworker/internal/auth"
)

// Link parameters used by Dial.
const (
	// MaxLinkPayload is the largest client message (or command payload)
	// the internal links carry (64 MiB). A gateway refuses a MaxMessageSize
	// above it.
	MaxLinkPayload = 64 << 20
	// MaxMessageSize bounds gRPC messages both ways on internal links: one
	// payload of MaxLinkPayload with room for its envelope (uid, session,
	// batch framing).
	MaxMessageSize = MaxLinkPayload + 4<<20
	// ClientKeepaliveTime is the client keepalive ping interval asked for.
	// grpc-go raises any value under 10 s to 10 s; servers must permit pings
	// that often without streams (keepalive.EnforcementPolicy).
	ClientKeepaliveTime = 5 * time.Second
	// ClientKeepaliveTimeout is how long a ping may stay unanswered before the
	// connection is closed.
	ClientKeepaliveTimeout = 5 * time.Second
)

// Dial connects to the internal gRPC service at addr and returns once the
// connection is ready. Every call carries secret (when not empty) via
// auth.Credentials. The link is plaintext unless extra holds transport
// credentials (extra options are applied last and win). Dial fails with
// ErrNotReady when the first connection attempt fails, or with ctx's error
// when ctx is done first; the caller bounds it with a deadline on ctx.
func Dial(ctx context.Context, addr, secret string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient(addr, dialOptions(secret, extra)...)
	if err != nil {
		return nil, fmt.Errorf("discovery: dial %s: %w", addr, err)
	}
	conn.Connect()
	for {
		s := conn.GetState()
		switch s {
		case connectivity.Ready:
			return conn, nil
		case connectivity.TransientFailure, connectivity.Shutdown:
			_ = conn.Close()
			return nil, fmt.Errorf("dial %s: %w (%s)", addr, ErrNotReady, s)
		}
		if !conn.WaitForStateChange(ctx, s) {
			_ = conn.Close()
			return nil, fmt.Errorf("dial %s: %w", addr, ctx.Err())
		}
	}
}

// dialOptions are the options of every internal link: plaintext unless
// extra sets transport credentials, keepalive, message limits, secret.
func dialOptions(secret string, extra []grpc.DialOption) []grpc.DialOption {
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{
			Time:                ClientKeepaliveTime,
			Timeout:             ClientKeepaliveTimeout,
			PermitWithoutStream: true,
		}),
		grpc.WithDefaultCallOptions(
			grpc.MaxCallRecvMsgSize(MaxMessageSize),
			grpc.MaxCallSendMsgSize(MaxMessageSize),
		),
	}
	if secret != "" {
		opts = append(opts, auth.Credentials(secret))
	}
	return append(opts, extra...)
}
