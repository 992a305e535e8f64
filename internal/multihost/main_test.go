//go:build linux

package multihost

import (
	"os"
	"testing"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	switch os.Getenv(driverEnv) {
	case driverMode:
		os.Exit(runDriver(os.Stdin, os.Stdout))
	case leaderWorkerMode:
		os.Exit(runLeaderWorker(os.Stdout, os.Stderr))
	}
	goleak.VerifyTestMain(m)
}
