package main

import (
	"context"
	"fmt"
	"runtime"
	"runtime/debug"

	"github.com/gatewayworker/gatewayworker/internal/cli"
)

// version is set at link time by release builds (-ldflags "-X main.version=v1.2.3");
// otherwise it comes from the module build info (go install ...@version).
var version = ""

func versionString() string {
	v := version
	if bi, ok := debug.ReadBuildInfo(); ok && v == "" {
		v = bi.Main.Version
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" && len(s.Value) >= 12 {
				v += " (" + s.Value[:12] + ")"
			}
		}
	}
	if v == "" {
		v = "(devel)"
	}
	return v
}

func runVersion(_ context.Context, e env, args []string) error {
	s := cli.NewBare("version", "Print the version of gatewayworker, the Go version it was built with, and the platform.", e.stderr)
	if err := parse(s, args); err != nil {
		return err
	}
	_, err := fmt.Fprintf(e.stdout, "gatewayworker %s %s %s/%s\n", versionString(), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	return err
}
