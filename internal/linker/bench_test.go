package linker

import (
	"context"
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

// BenchmarkDispatch measures handing an event to a shard, running a no-op
// handler and acking it.
func BenchmarkDispatch(b *testing.B) {
	var done sync.WaitGroup
	d := newDispatcher(4, func(context.Context, Event) { done.Done() })
	stop := make(chan struct{})
	var wg sync.WaitGroup
	d.run(context.Background(), stop, &wg)
	defer func() { close(stop); wg.Wait() }()
	k := &link{queue: newCmdQueue(1<<20, DefaultMaxQueueAge, new(atomic.Uint64))}
	a := &acker{}
	ev := &pb.Event{}
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		seq := uint64(i + 1)
		a.received(seq)
		done.Add(1)
		d.push(task{ev: Event{Gateway: 1, Ev: ev}, acker: a, link: k})
	}
	done.Wait()
}
