package linker

import (
	"context"
	"fmt"
	"math"
	"slices"
	"sync"
	"time"

	"google.golang.org/grpc"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

type linkStream = grpc.BidiStreamingClient[pb.LinkRequest, pb.LinkResponse]

type replyResult struct {
	reply *pb.Reply
	err   error
}

// link is the connection to one gateway for as long as the gateway is in the
// watched set. Its goroutine (run) dials, runs sessions and reconnects.
type link struct {
	l     *Linker
	node  uint64
	info  *pb.GatewayInfo
	queue *cmdQueue

	cancel context.CancelFunc // ends run

	mu      sync.Mutex
	up      bool
	everUp  bool
	closed  bool
	firstUp chan struct{} // closed on the first session or on close
	pending map[uint64]chan replyResult
	parts   map[uint64]*pb.Reply // replies whose parts are still coming
	workers []string
}

func newLink(l *Linker, info *pb.GatewayInfo) *link {
	return &link{
		l:       l,
		node:    info.GetNodeId(),
		info:    info,
		queue:   newCmdQueue(l.cfg.MaxQueueBytes, l.cfg.MaxQueueAge, &l.expired),
		firstUp: make(chan struct{}),
		pending: make(map[uint64]chan replyResult),
	}
}

func (k *link) isUp() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.up
}

// run links to the gateway until ctx is done, reconnecting with backoff.
func (k *link) run(ctx context.Context) {
	defer k.close()
	log := k.l.log.With("gateway", formatNode(k.node), "addr", k.info.GetLanAddr())
	bo := discovery.Backoff{Min: k.l.cfg.MinBackoff, Max: k.l.cfg.MaxBackoff}
	failing := false // log the first failure of a series only, not every retry
	for {
		sctx, relink := k.l.sessionCtx(ctx, k)
		established, err := k.session(sctx)
		if relink() && ctx.Err() == nil {
			continue // OpenEvents ended it: link again at once, as a worker
		}
		if ctx.Err() != nil {
			if established {
				log.Info("unlinked")
			}
			return
		}
		switch {
		case established:
			bo.Reset()
			failing = true
			log.Warn("link broken, reconnecting", "err", err)
		case !failing:
			failing = true
			log.Warn("cannot link, retrying", "err", err)
		default:
			log.Debug("cannot link", "err", err)
		}
		t := time.NewTimer(bo.Next())
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			return
		}
	}
}

// session runs one Link stream. established reports whether Welcome came.
func (k *link) session(ctx context.Context) (established bool, err error) {
	cfg := &k.l.cfg
	dctx, dcancel := context.WithTimeout(ctx, cfg.DialTimeout)
	conn, err := discovery.Dial(dctx, k.info.GetLanAddr(), cfg.Secret, cfg.DialOptions...)
	dcancel()
	if err != nil {
		return false, err
	}
	defer conn.Close()

	// The stream outlives ctx by the goodbye (bounded by CloseTimeout).
	sctx, scancel := context.WithCancel(context.WithoutCancel(ctx))
	defer scancel()
	stream, err := pb.NewGatewayClient(conn).Link(sctx)
	if err != nil {
		return false, err
	}
	hello := &pb.LinkRequest{Hello: &pb.Hello{
		LinkerId: k.l.id, Name: cfg.Name, Events: k.l.takesEvents(),
		WindowEvents: uint32(min(cfg.WindowEvents, math.MaxUint32)), WindowBytes: uint64(cfg.WindowBytes),
	}}
	if err := stream.Send(hello); err != nil {
		return false, fmt.Errorf("send hello: %w", err)
	}
	timer := time.AfterFunc(cfg.DialTimeout, scancel)
	resp, err := stream.Recv()
	if !timer.Stop() {
		return false, fmt.Errorf("welcome: %w", context.DeadlineExceeded)
	}
	if err != nil {
		return false, fmt.Errorf("welcome: %w", err)
	}
	if got := resp.GetWelcome().GetGateway().GetNodeId(); resp.GetWelcome() == nil || got != k.node {
		return false, fmt.Errorf("%w: welcome from node %s, want %s", ErrProtocol, formatNode(got), formatNode(k.node))
	}
	ack := &acker{}
	k.setUp()
	defer k.setDown(ack)
	k.l.log.Info("linked", "gateway", formatNode(k.node), "addr", k.info.GetLanAddr())
	if err := k.handle(resp, ack); err != nil {
		return true, err
	}

	var (
		wg      sync.WaitGroup
		recvErr error
		recvEnd = make(chan struct{})
	)
	wg.Go(func() {
		defer close(recvEnd)
		recvErr = k.recvLoop(stream, ack)
	})
	err = k.sendLoop(ctx, stream, ack, recvEnd, scancel)
	scancel()
	wg.Wait()
	if err == nil {
		err = recvErr
	}
	return true, err
}

func (k *link) recvLoop(stream linkStream, ack *acker) error {
	for {
		resp, err := stream.Recv()
		if err != nil {
			return err
		}
		if err := k.handle(resp, ack); err != nil {
			return err
		}
	}
}

// handle applies one LinkResponse: workers, replies, then events.
func (k *link) handle(resp *pb.LinkResponse, ack *acker) error {
	if resp.GetWorkersChanged() {
		w := slices.Clone(resp.GetWorkers())
		slices.Sort(w)
		k.mu.Lock()
		k.workers = w
		k.mu.Unlock()
	}
	for _, r := range resp.GetReplies() {
		k.resolve(r)
	}
	for _, ev := range resp.GetEvents() {
		if ev.GetSeq() == 0 {
			return fmt.Errorf("%w: event without seq", ErrProtocol)
		}
		if !ack.received(ev.GetSeq()) {
			continue // a duplicate, or the session is over
		}
		if !k.l.cfg.Events {
			ack.complete(ev.GetSeq()) // not a worker: nothing to do with it
			continue
		}
		if k.l.eventsStopped.Load() {
			continue // not acked: the gateway hands it to another worker
		}
		k.l.disp.push(task{ev: Event{Gateway: k.node, Ev: ev}, acker: ack, link: k})
	}
	return nil
}

// sendLoop sends queued commands and acks until the stream breaks or ctx is
// done (then it says goodbye).
func (k *link) sendLoop(ctx context.Context, stream linkStream, ack *acker, recvEnd <-chan struct{}, cancelStream context.CancelFunc) error {
	cfg := &k.l.cfg
	var (
		lastAck time.Time
		timer   = time.NewTimer(time.Hour)
	)
	timer.Stop()
	defer timer.Stop()
	for {
		select {
		case <-k.queue.notify:
		case <-timer.C:
		case <-recvEnd:
			return nil
		case <-ctx.Done():
			return k.goodbye(stream, ack, recvEnd, cancelStream)
		}
		for {
			// Acks are taken before commands: a command a handler queued
			// before it returned is then in this request or an earlier
			// one, and the gateway applies a request's commands before its
			// acks. So what a connect handler did is applied before the
			// gateway reads the client's first message.
			var acks []*pb.AckRange
			ready, inHand := ack.pending()
			since := time.Since(lastAck)
			if ready && (!inHand || since >= cfg.AckDelay || !k.queue.empty()) {
				acks, _ = ack.take()
			}
			batch := k.queue.take(nil, cfg.MaxBatchCommands, cfg.MaxBatchBytes)
			if len(batch) == 0 && acks == nil {
				if ready {
					timer.Reset(cfg.AckDelay - since)
				}
				break
			}
			if err := stream.Send(&pb.LinkRequest{Commands: batch, Acks: acks}); err != nil {
				return err
			}
			if acks != nil {
				lastAck = time.Now()
			}
		}
	}
}

// goodbye sends what is queued and the last ack, closes the sending side and
// waits for the gateway to end the stream, bounded by CloseTimeout.
func (k *link) goodbye(stream linkStream, ack *acker, recvEnd <-chan struct{}, cancelStream context.CancelFunc) error {
	t := time.AfterFunc(k.l.cfg.CloseTimeout, cancelStream)
	defer t.Stop()
	for {
		acks, _ := ack.take() // before the commands, as in sendLoop
		batch := k.queue.take(nil, k.l.cfg.MaxBatchCommands, k.l.cfg.MaxBatchBytes)
		if len(batch) == 0 && acks == nil {
			break
		}
		if err := stream.Send(&pb.LinkRequest{Commands: batch, Acks: acks}); err != nil {
			return err
		}
	}
	if err := stream.CloseSend(); err != nil {
		return err
	}
	<-recvEnd // the gateway ends the stream, or CloseTimeout cancels it
	return nil
}

func (k *link) setUp() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.up = true
	if !k.everUp {
		k.everUp = true
		close(k.firstUp)
	}
}

// setDown ends a session: its acks are void, its pending replies fail and its
// workers set is forgotten.
func (k *link) setDown(ack *acker) {
	ack.detach()
	k.mu.Lock()
	k.up = false
	k.workers = nil
	pending := k.pending
	k.pending = make(map[uint64]chan replyResult)
	k.parts = nil
	k.mu.Unlock()
	for _, ch := range pending {
		ch <- replyResult{err: ErrLinkDown}
	}
}

// close is the end of the link: the gateway left the set or the Linker
// stopped.
func (k *link) close() {
	k.queue.close()
	k.mu.Lock()
	k.closed = true
	if !k.everUp {
		k.everUp = true
		close(k.firstUp)
	}
	pending := k.pending
	k.pending = make(map[uint64]chan replyResult)
	k.mu.Unlock()
	for _, ch := range pending {
		ch <- replyResult{err: ErrNotLinked}
	}
}

// expect registers a reply waiter for id. It fails at once when the link is
// down after having been up; it waits up to ConnectWait for a first session.
func (k *link) expect(ctx context.Context, id uint64) (chan replyResult, error) {
	k.mu.Lock()
	if !k.up && !k.everUp {
		first := k.firstUp
		k.mu.Unlock()
		t := time.NewTimer(k.l.cfg.ConnectWait)
		select {
		case <-first:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
		k.mu.Lock()
	}
	defer k.mu.Unlock()
	switch {
	case k.closed:
		return nil, ErrNotLinked
	case !k.up:
		return nil, ErrLinkDown
	}
	ch := make(chan replyResult, 1)
	k.pending[id] = ch
	return ch, nil
}

func (k *link) forget(id uint64) {
	k.mu.Lock()
	delete(k.pending, id)
	k.mu.Unlock()
}

// resolve hands a reply to its waiter. The parts of a large reply (More
// set on all but the last) are joined first.
func (k *link) resolve(r *pb.Reply) {
	id := r.GetId()
	k.mu.Lock()
	if prev := k.parts[id]; prev != nil {
		joinReply(prev, r)
		r = prev
	}
	if r.GetMore() {
		if _, waited := k.pending[id]; waited {
			if k.parts == nil {
				k.parts = make(map[uint64]*pb.Reply)
			}
			k.parts[id] = r
		}
		k.mu.Unlock()
		return
	}
	delete(k.parts, id)
	ch, ok := k.pending[id]
	delete(k.pending, id)
	k.mu.Unlock()
	if ok {
		ch <- replyResult{reply: r}
	}
}

// joinReply appends the part next to the reply dst gathered so far. The
// gateway splits one group's member list over consecutive parts: entries of
// the same name are joined.
func joinReply(dst, next *pb.Reply) {
	dst.More = next.GetMore()
	if next.GetError() != "" {
		dst.Error = next.GetError()
	}
	nr := next.GetResult()
	if nr == nil {
		return
	}
	if dst.Result == nil {
		dst.Result = &pb.QueryResult{}
	}
	res := dst.Result
	res.Clients = append(res.Clients, nr.GetClients()...)
	for _, g := range nr.GetGroups() {
		if n := len(res.Groups); n > 0 && res.Groups[n-1].GetName() == g.GetName() {
			last := res.Groups[n-1]
			last.Conns = append(last.Conns, g.GetConns()...)
			last.Uids = append(last.Uids, g.GetUids()...)
			continue
		}
		res.Groups = append(res.Groups, g)
	}
	res.Uids = append(res.Uids, nr.GetUids()...)
	if !next.GetMore() {
		res.Count, res.Stats = nr.GetCount(), nr.GetStats()
	}
}

func (k *link) workerSet() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.workers
}
