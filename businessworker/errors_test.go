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
		if got := notFoundReply(tc.err); got != tc.want {
			t.Errorf("%s: notFoundReply(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}
