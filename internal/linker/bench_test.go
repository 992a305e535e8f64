package linker

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/linker/linkertest"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// BenchmarkEnqueueSend measures queuing a 64-byte send to one client and
// shipping it in batches over a real loopback link.
func BenchmarkEnqueueSend(b *testing.B) {
	g := linkertest.NewGateway(b, 0xbe)
	g.Quiet = true
	l, err := New(Config{Source: linkertest.NewSource(g).Run})
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = l.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	bg := context.Background()
	if err := l.Flush(bg); err != nil {
		b.Fatal(err)
	}
	data := make([]byte, 64)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		cmd := &pb.Command{Op: &pb.Command_Send{Send: &pb.Send{Target: pb.Send_TARGET_CLIENTS, Conns: []uint64{uint64(i)}, Data: data}}}
		if err := l.Enqueue(bg, 0xbe, cmd); err != nil {
			b.Fatal(err)
		}
	}
	if err := l.Flush(bg); err != nil {
		b.Fatal(err)
	}
}

// BenchmarkDispatch measures handing an event to its client's queue,
// running a no-op handler and acking it, for one client (events run in
// order on one goroutine) and for 64 clients (their goroutines come and go).
func BenchmarkDispatch(b *testing.B) {
	for _, clients := range []uint64{1, 64} {
		b.Run(fmt.Sprintf("clients=%d", clients), func(b *testing.B) {
			var done sync.WaitGroup
			d := newDispatcher(func(context.Context, Event) { done.Done() }, 0, nil)
			stop := make(chan struct{})
			var wg sync.WaitGroup
			d.run(context.Background(), stop, &wg)
			defer func() { close(stop); wg.Wait() }()
			k := &link{queue: newCmdQueue(1<<20, DefaultMaxQueueAge, new(atomic.Uint64))}
			a := &acker{}
			evs := make([]*pb.Event, clients)
			for i := range evs {
				evs[i] = &pb.Event{Conn: uint64(i)}
			}
			b.ReportAllocs()
			for i := 0; b.Loop(); i++ {
				seq := uint64(i + 1)
				a.received(seq)
				done.Add(1)
				ev := evs[uint64(i)%clients]
				d.push(task{ev: Event{Gateway: 1, Ev: ev}, acker: a, link: k})
				if i%256 == 255 {
					a.take()
				}
			}
			done.Wait()
		})
	}
}
