package businessworker

import (
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/discovery"
	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// The exported defaults are written as values (go doc shows no internal
// name); they must stay those of the internal packages that apply them.
func TestDefaultsMatchInternal(t *testing.T) {
	for _, c := range []struct {
		name      string
		got, want int64
	}{
		{"DefaultEventWindow", DefaultEventWindow, linker.DefaultWindowEvents},
		{"DefaultEventWindowBytes", DefaultEventWindowBytes, linker.DefaultWindowBytes},
		{"DefaultSlowHandler", int64(DefaultSlowHandler), int64(linker.DefaultSlowHandler)},
		{"DefaultMaxQueueAge", int64(DefaultMaxQueueAge), int64(linker.DefaultMaxQueueAge)},
		{"DefaultLeaderLeaseTTL", int64(DefaultLeaderLeaseTTL), int64(discovery.DefaultLeaseTTL)},
	} {
		if c.got != c.want {
			t.Errorf("%s = %d, the internal default is %d", c.name, c.got, c.want)
		}
	}
}
