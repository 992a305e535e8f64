// Package auth carries the cluster secret on every internal gRPC call.
//
// The secret travels in the "x-gw-secret" metadata key and is compared in
// constant time. An empty secret on the server side disables the check.
// For mTLS, see the TLS options of each role instead.
package auth

import (
	"context"
	"crypto/subtle"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// MetadataKey is the gRPC metadata key that carries the cluster secret.
const MetadataKey = "x-gw-secret"

// Credentials returns per-RPC credentials that attach secret to every call.
// It is meant for grpc.WithPerRPCCredentials; it works over plaintext links.
func Credentials(secret string) grpc.DialOption {
	return grpc.WithPerRPCCredentials(secretCreds(secret))
}

type secretCreds string

func (s secretCreds) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{MetadataKey: string(s)}, nil
}

func (secretCreds) RequireTransportSecurity() bool { return false }

// Check verifies the secret in ctx's incoming metadata.
func Check(ctx context.Context, secret string) error {
	if secret == "" {
		return nil
	}
	md, _ := metadata.FromIncomingContext(ctx)
	for _, got := range md.Get(MetadataKey) {
		if subtle.ConstantTimeCompare([]byte(got), []byte(secret)) == 1 {
			return nil
		}
	}
	return status.Error(codes.Unauthenticated, "gatewayworker: missing or wrong cluster secret")
}

// ServerOptions returns interceptors that refuse calls without secret.
// onReject, if not nil, is called with the method name of each refused call
// (for logging and metrics).
func ServerOptions(secret string, onReject func(ctx context.Context, method string)) []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			if err := Check(ctx, secret); err != nil {
				if onReject != nil {
					onReject(ctx, info.FullMethod)
				}
				return nil, err
			}
			return h(ctx, req)
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			if err := Check(ss.Context(), secret); err != nil {
				if onReject != nil {
					onReject(ss.Context(), info.FullMethod)
				}
				return err
			}
			return h(srv, ss)
		}),
	}
}
