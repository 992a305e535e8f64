package register

import (
	"context"
	"net"
	"testing"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func TestLeaderLeaseGrants(t *testing.T) {
	t0 := time.Unix(1_700_000_000, 0)
	ls := newLeaderLeases(2*time.Second, t0)
	ask := func(at time.Duration, holder string, token uint64, release bool) *pb.LeaseResponse {
		t.Helper()
		r, _, err := ls.handle(&pb.LeaseRequest{Name: "leader", Holder: holder, TtlMs: 1000, Token: token, Release: release}, t0.Add(at))
		if err != nil {
			t.Fatal(err)
		}
		return r
	}
	if r := ask(time.Second, "a", 0, false); r.Granted {
		t.Fatalf("granted %v within MaxLeaderTTL of the start", r)
	}
	r := ask(2*time.Second, "a", 0, false)
	if !r.Granted || r.Holder != "a" || r.TtlMs != 1000 {
		t.Fatalf("first ask: %v", r)
	}
	tokA := r.Token
	if r := ask(2500*time.Millisecond, "b", 0, false); r.Granted || r.Holder != "a" || r.Token != tokA {
		t.Fatalf("b while a holds: %v", r)
	}
	// a renews and raises the token to what it saw elsewhere.
	if r := ask(2900*time.Millisecond, "a", tokA+5, false); !r.Granted || r.Token != tokA+5 {
		t.Fatalf("renew: %v", r)
	}
	if r := ask(3800*time.Millisecond, "b", 0, false); r.Granted {
		t.Fatalf("b before the renewed grant ended: %v", r)
	}
	// a's grant ended at 3.9 s: b gets it with a higher token.
	r = ask(3900*time.Millisecond, "b", 0, false)
	if !r.Granted || r.Holder != "b" || r.Token != tokA+6 {
		t.Fatalf("b after a's grant ended: %v, want token %d", r, tokA+6)
	}
	// A release by a non-holder changes nothing; by the holder frees it.
	ask(4*time.Second, "a", 0, true)
	if r := ask(4*time.Second, "c", 0, false); r.Granted {
		t.Fatalf("c after a's stale release: %v", r)
	}
	ask(4*time.Second, "b", 0, true)
	if r := ask(4*time.Second, "c", 0, false); !r.Granted || r.Token != tokA+7 {
		t.Fatalf("c after b released: %v", r)
	}
	// TTLs are capped.
	if r, _, _ := ls.handle(&pb.LeaseRequest{Name: "x", Holder: "a", TtlMs: 60000}, t0.Add(5*time.Second)); r.TtlMs != 2000 {
		t.Fatalf("ttl %d, want the 2000 ms cap", r.TtlMs)
	}
	for _, bad := range []*pb.LeaseRequest{{Holder: "a"}, {Name: "n"}, {Name: string(make([]byte, 129)), Holder: "a"}} {
		if _, _, err := ls.handle(bad, t0.Add(5*time.Second)); status.Code(err) != codes.InvalidArgument {
			t.Fatalf("%v: err %v", bad, err)
		}
	}
}

func TestLeaderLeaseNamesBounded(t *testing.T) {
	t0 := time.Now()
	ls := newLeaderLeases(time.Second, t0.Add(-time.Hour))
	for i := range MaxLeaseNames {
		if _, _, err := ls.handle(&pb.LeaseRequest{Name: string(rune('a'+i%26)) + time.Duration(i).String(), Holder: "h", TtlMs: 1000}, t0); err != nil {
			t.Fatal(err)
		}
	}
	if _, _, err := ls.handle(&pb.LeaseRequest{Name: "one more", Holder: "h"}, t0); status.Code(err) != codes.ResourceExhausted {
		t.Fatalf("err %v", err)
	}
	// Once they ended, names are swept and tokens do not go down.
	r, _, err := ls.handle(&pb.LeaseRequest{Name: "one more", Holder: "h"}, t0.Add(2*time.Second))
	if err != nil || !r.Granted || r.Token <= ls.base {
		t.Fatalf("after sweep: %v, %v", r, err)
	}
}

// The Lease RPC over gRPC, with the cluster secret.
func TestLeaderLeaseRPC(t *testing.T) {
	r, err := New(Config{Name: "r1", Secret: "s", MaxLeaderTTL: 100 * time.Millisecond, ClusterSize: 3})
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	serveOn(t, r, lis)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	conn, err := discovery.Dial(ctx, lis.Addr().String(), "s")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	c := pb.NewRegisterClient(conn)
	var resp *pb.LeaseResponse
	waitFor(t, 5*time.Second, "a grant once MaxLeaderTTL passed", func() bool {
		resp, err = c.Lease(ctx, &pb.LeaseRequest{Name: "leader", Holder: "w1"})
		return err == nil && resp.Granted
	})
	if resp.Register != "r1" || resp.ClusterSize != 3 || resp.Instance == 0 || resp.TtlMs != 100 {
		t.Fatalf("response %v", resp)
	}
	// Without the cluster secret the call is refused.
	bad, err := discovery.Dial(ctx, lis.Addr().String(), "wrong")
	if err != nil {
		t.Fatal(err)
	}
	defer bad.Close()
	if _, err := pb.NewRegisterClient(bad).Lease(ctx, &pb.LeaseRequest{Name: "leader", Holder: "intruder"}); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Lease with a wrong secret: %v", err)
	}
}
