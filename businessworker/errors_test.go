package businessworker

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// Only one gateway's "client not found" reply reads as not found; other
// replies, several gateways' errors and transport errors keep their kind.
func TestNotFoundReply(t *testing.T) {
	reply := func(text string) error {
		return errors.Join(&linker.GatewayError{Node: 1, Err: fmt.Errorf("%w: %s", linker.ErrReply, text)})
	}
	for _, tc := range []struct {
		name string
		err  error
		want bool
	}{
		{"not found", reply("gateway: client not found: conn 5"), true},
		{"other reply", reply("gateway: bad command: query kind 9"), false},
		{"two gateways", errors.Join(reply("gateway: client not found: conn 5"), reply("gateway: client not found: conn 6")), false},
		{"link down", errors.Join(&linker.GatewayError{Node: 1, Err: linker.ErrLinkDown}), false},
		{"timeout", errors.Join(&linker.GatewayError{Node: 1, Err: context.DeadlineExceeded}), false},
		{"not linked", &linker.GatewayError{Node: 1, Err: linker.ErrNotLinked}, false},
	} {
		if got := notFoundReply(exportErr(tc.err)); got != tc.want {
			t.Errorf("%s: notFoundReply(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// Errors the API returns carry one package prefix and this package's
// sentinels, whatever the linker said.
func TestExportErr(t *testing.T) {
	err := exportErr(errors.Join(
		&linker.GatewayError{Node: 1, Err: linker.ErrLinkDown},
		&linker.GatewayError{Node: 2, Err: fmt.Errorf("%w: %s", linker.ErrReply, "gateway: bad command")},
	))
	want := "businessworker: gateway 0000000000000001: link down\nbusinessworker: gateway 0000000000000002: gateway error: gateway: bad command"
	if err.Error() != want {
		t.Fatalf("got %q, want %q", err, want)
	}
	var ge *GatewayError
	if !errors.As(err, &ge) || ge.Node != "0000000000000001" || !errors.Is(err, ErrLinkDown) || !errors.Is(err, ErrGateway) {
		t.Fatalf("errors.As/Is on %v: %+v", err, ge)
	}
	if errors.Is(err, linker.ErrLinkDown) {
		t.Fatal("the linker's sentinel leaks through")
	}
}

// The zero Worker, API and Client return ErrNotInitialized and do not panic.
func TestZeroValues(t *testing.T) {
	ctx := context.Background()
	var w Worker
	if err := w.Run(ctx); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("zero Worker Run: %v", err)
	}
	if w.ID() != "" || w.IsLeader() {
		t.Fatal("zero Worker has an id or leads")
	}
	if err := w.SendToAll(ctx, Text("x")); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("zero Worker SendToAll: %v", err)
	}
	var a API
	if _, err := a.CountClients(ctx); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("zero API CountClients: %v", err)
	}
	if _, err := a.Stats(ctx); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("zero API Stats: %v", err)
	}
	if err := a.Flush(ctx); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("zero API Flush: %v", err)
	}
	if a.Workers() != nil {
		t.Fatal("zero API has workers")
	}
	if err := (&Client{}).Send(ctx, Text("x")); !errors.Is(err, ErrNotInitialized) {
		t.Fatalf("zero Client Send: %v", err)
	}
}
