package loadgen

import (
	"context"
	"os"
	"testing"

	"go.uber.org/goleak"
)

// childEnv makes the test binary act as a gwbench child process, so that
// the child-process tests run the real protocol over real pipes.
const childEnv = "LOADGEN_TEST_CHILD"

func TestMain(m *testing.M) {
	if os.Getenv(childEnv) == "1" {
		if err := ServeChild(context.Background(), os.Stdin, os.Stdout, nil); err != nil {
			os.Exit(1)
		}
		os.Exit(0)
	}
	goleak.VerifyTestMain(m)
}
