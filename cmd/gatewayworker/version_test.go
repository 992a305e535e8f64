package main

import (
	"bytes"
	"context"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

func TestVersionCommand(t *testing.T) {
	var out, errOut bytes.Buffer
	if code := run(context.Background(), []string{"version"}, &out, &errOut, func(string) string { return "" }); code != 0 {
		t.Fatalf("exit %d, stderr %q", code, errOut.String())
	}
	want := regexp.MustCompile(`^gatewayworker \S.* ` + regexp.QuoteMeta(runtime.Version()+" "+runtime.GOOS+"/"+runtime.GOARCH) + "\n$")
	if !want.MatchString(out.String()) {
		t.Fatalf("version printed %q, want it to match %s", out.String(), want)
	}
}

func TestVersionStringPrefersLinkerFlag(t *testing.T) {
	old := version
	t.Cleanup(func() { version = old })
	version = "v1.2.3"
	if got := versionString(); got != "v1.2.3" {
		t.Fatalf("versionString() = %q, want v1.2.3", got)
	}
	version = ""
	if got := versionString(); got == "" {
		t.Fatal("versionString() is empty without a linker flag")
	}
}

// TestVersionOfBuiltBinary builds the command as a release would and runs
// "gatewayworker version": the -X flag's version, then a plain build's
// version from the module build info.
func TestVersionOfBuiltBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	dir := t.TempDir()
	for _, tc := range []struct {
		name, ldflags string
		want          *regexp.Regexp
	}{
		{"release", "-X main.version=v9.8.7", regexp.MustCompile(`^gatewayworker v9\.8\.7 go`)},
		// A plain build reports the module version go stamps ((devel) or a
		// pseudo-version from VCS) and the VCS revision when known.
		{"plain", "", regexp.MustCompile(`^gatewayworker (\(devel\)|v\S+)( \([0-9a-f]{12}\))? go`)},
	} {
		bin := filepath.Join(dir, tc.name)
		args := []string{"build", "-o", bin}
		if tc.ldflags != "" {
			args = append(args, "-ldflags", tc.ldflags)
		}
		build := exec.Command(goTool, append(args, ".")...)
		if out, err := build.CombinedOutput(); err != nil {
			t.Fatalf("%s build: %v\n%s", tc.name, err, out)
		}
		out, err := exec.Command(bin, "version").Output()
		if err != nil {
			t.Fatalf("%s: %s version: %v", tc.name, bin, err)
		}
		if !tc.want.Match(out) || !strings.HasSuffix(string(out), runtime.GOOS+"/"+runtime.GOARCH+"\n") {
			t.Errorf("%s: version printed %q, want %s", tc.name, out, tc.want)
		}
	}
}
