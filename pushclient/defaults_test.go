package pushclient

import (
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// The exported defaults are written as values (go doc shows no internal
// name); they must stay those of the linker that applies them.
func TestDefaultsMatchInternal(t *testing.T) {
	if DefaultQueryTimeout != linker.DefaultQueryTimeout || DefaultMaxQueueAge != linker.DefaultMaxQueueAge {
		t.Fatalf("DefaultQueryTimeout %v, DefaultMaxQueueAge %v; linker: %v, %v",
			DefaultQueryTimeout, DefaultMaxQueueAge, linker.DefaultQueryTimeout, linker.DefaultMaxQueueAge)
	}
}
