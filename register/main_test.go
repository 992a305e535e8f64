package register

import (
	"testing"

	"go.uber.org/goleak"
)

// memberlist's Shutdown stops its scheduler but does not wait for a probe
// already under way: that goroutine ends by itself at the probe's timeout
// (at most a second), after the test may have finished on a loaded machine.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.IgnoreTopFunction("github.com/hashicorp/memberlist.(*Memberlist).probeNode"))
}
