//go:build linux

package multihost

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	if os.Getenv(driverEnv) == driverMode {
		os.Exit(runDriver(os.Stdin, os.Stdout))
	}
	goleak.VerifyTestMain(m)
}
