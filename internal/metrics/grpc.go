package metrics

import (
	"context"
	"errors"
	"io"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// numCodes is the number of gRPC status codes (OK through Unauthenticated).
const numCodes = int(codes.Unauthenticated) + 1

// GRPCErrors counts the gRPC calls of one role that ended with an error, by
// status code. Its interceptors add nothing to the messages of a stream:
// they only look at how a call ends. It is a prometheus.Collector that
// exports every code from the start (at zero), so dashboards and alerts
// never miss a series. The zero value is not usable; call NewGRPCErrors.
type GRPCErrors struct {
	desc   *prometheus.Desc
	counts [numCodes]atomic.Uint64
}

var _ prometheus.Collector = (*GRPCErrors)(nil)

// NewGRPCErrors returns a counter exported as the metric name (with a
// "code" label) and help text.
func NewGRPCErrors(name, help string) *GRPCErrors {
	return &GRPCErrors{desc: prometheus.NewDesc(name, help, []string{"code"}, nil)}
}

// Observe counts err unless it is nil or io.EOF (the normal end of a
// stream read by a client).
func (e *GRPCErrors) Observe(err error) {
	if err == nil || errors.Is(err, io.EOF) {
		return
	}
	c := codeOf(err)
	if c == codes.OK {
		return
	}
	if int(c) >= numCodes {
		c = codes.Unknown
	}
	e.counts[c].Add(1)
}

// Count returns the errors counted with code c.
func (e *GRPCErrors) Count(c codes.Code) uint64 {
	if int(c) >= numCodes {
		return 0
	}
	return e.counts[c].Load()
}

func codeOf(err error) codes.Code {
	if s, ok := status.FromError(err); ok {
		return s.Code()
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return status.FromContextError(err).Code()
	}
	return codes.Unknown
}

// ServerOptions returns interceptors that count the errors returned by the
// server's handlers.
func (e *GRPCErrors) ServerOptions() []grpc.ServerOption {
	return []grpc.ServerOption{
		grpc.ChainUnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
			resp, err := h(ctx, req)
			e.Observe(err)
			return resp, err
		}),
		grpc.ChainStreamInterceptor(func(srv any, ss grpc.ServerStream, _ *grpc.StreamServerInfo, h grpc.StreamHandler) error {
			err := h(srv, ss)
			e.Observe(err)
			return err
		}),
	}
}

// DialOptions returns interceptors that count the calls of a client that
// failed: a unary call's error, a stream that could not start, and the
// first error other than io.EOF a stream's RecvMsg returns.
func (e *GRPCErrors) DialOptions() []grpc.DialOption {
	return []grpc.DialOption{
		grpc.WithChainUnaryInterceptor(func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
			err := invoker(ctx, method, req, reply, cc, opts...)
			e.Observe(err)
			return err
		}),
		grpc.WithChainStreamInterceptor(func(ctx context.Context, desc *grpc.StreamDesc, cc *grpc.ClientConn, method string, streamer grpc.Streamer, opts ...grpc.CallOption) (grpc.ClientStream, error) {
			s, err := streamer(ctx, desc, cc, method, opts...)
			if err != nil {
				e.Observe(err)
				return nil, err
			}
			return &countedStream{ClientStream: s, e: e}, nil
		}),
	}
}

// countedStream counts the first error its RecvMsg returns.
type countedStream struct {
	grpc.ClientStream
	e    *GRPCErrors
	done atomic.Bool
}

func (s *countedStream) RecvMsg(m any) error {
	err := s.ClientStream.RecvMsg(m)
	if err != nil && s.done.CompareAndSwap(false, true) {
		s.e.Observe(err)
	}
	return err
}

// Describe implements prometheus.Collector.
func (e *GRPCErrors) Describe(ch chan<- *prometheus.Desc) { ch <- e.desc }

// Collect implements prometheus.Collector: one series per code but OK.
func (e *GRPCErrors) Collect(ch chan<- prometheus.Metric) {
	for c := 1; c < numCodes; c++ {
		ch <- prometheus.MustNewConstMetric(e.desc, prometheus.CounterValue, float64(e.counts[c].Load()), codes.Code(c).String())
	}
}
