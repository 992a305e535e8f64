package businessworker

import (
	"context"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/register"
)

// A leader-only run in progress has its ctx cancelled when the lease can no
// longer be renewed (its only register stopped), and the worker stops
// leading within the grant, before any other worker could lead.
func TestLeaderOnlyRunEndsWithTheLease(t *testing.T) {
	reg, err := register.New(register.Config{Secret: "s", MaxLeaderTTL: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	rl := listen(t)
	rctx, stopRegister := context.WithCancel(context.Background())
	regDone := make(chan struct{})
	go func() {
		defer close(regDone)
		if err := reg.Serve(rctx, rl); err != nil {
			t.Errorf("register: %v", err)
		}
	}()
	t.Cleanup(func() { stopRegister(); <-regDone })

	const ttl = time.Second
	w, err := New(Config{Registers: []string{rl.Addr().String()}, Secret: "s", Handler: BaseHandler{}, LeaderLeaseTTL: ttl})
	if err != nil {
		t.Fatal(err)
	}
	started := make(chan uint64, 1)
	ended := make(chan time.Time, 1)
	w.Every(20*time.Millisecond, func(ctx context.Context) {
		tok, _ := LeaderToken(ctx)
		select {
		case started <- tok:
		default:
			return // one long run is enough
		}
		<-ctx.Done()
		ended <- time.Now()
	}, WithLeaderOnly())
	wctx, stopWorker := context.WithCancel(context.Background())
	wDone := make(chan error, 1)
	go func() { wDone <- w.Run(wctx) }()
	t.Cleanup(func() { stopWorker(); <-wDone })

	var tok uint64
	select {
	case tok = <-started:
	case <-time.After(10 * time.Second):
		t.Fatal("no leader-only run within 10 s")
	}
	if tok == 0 || !w.IsLeader() {
		t.Fatalf("run with token %d, IsLeader %v", tok, w.IsLeader())
	}
	stopRegister()
	<-regDone
	stopped := time.Now()
	select {
	case at := <-ended:
		// The grant is TTL minus two polls (0.8 s): the term ends before.
		if d := at.Sub(stopped); d > ttl {
			t.Fatalf("run cancelled %v after the register stopped, want within the grant", d)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the run's ctx was not cancelled when the lease was lost")
	}
	if w.IsLeader() {
		t.Fatal("IsLeader after the lease was lost")
	}
}
