package main

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// The golden file lists signatures, and a package whose API names an
// internal type is reported (apihook's NewAPI takes a *linker.Linker).
func TestAPILines(t *testing.T) {
	lines, problems, err := apiLines([]string{"github.com/gatewayworker/gatewayworker/internal/apihook"})
	if err != nil {
		t.Fatal(err)
	}
	want := "pkg apihook, var NewAPI func(l *linker.Linker) any"
	if !slices.Contains(lines, want) {
		t.Errorf("lines %q lack %q", lines, want)
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "internal/linker") {
		t.Errorf("problems = %q, want one naming internal/linker", problems)
	}
}

// A removed or changed line fails the check and is shown.
func TestCheckShowsDifferences(t *testing.T) {
	golden := filepath.Join(t.TempDir(), "api.txt")
	if err := os.WriteFile(golden, []byte("pkg p, func A()\npkg p, func B()\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := check(golden, []string{"pkg p, func A()", "pkg p, func B()"}, &out); err != nil || out.Len() != 0 {
		t.Fatalf("same API: %v %q", err, out.String())
	}
	if err := check(golden, []string{"pkg p, func A()", "pkg p, func C()"}, &out); err == nil {
		t.Fatal("a renamed function passed")
	}
	if got := out.String(); got != "- pkg p, func B()\n+ pkg p, func C()\n" {
		t.Fatalf("diff output %q", got)
	}
}
