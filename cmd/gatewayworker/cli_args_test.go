package main

import (
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// TestFlagsAfterArguments sends through a real cluster with the flags
// written after the positional arguments, and with "--" before a text that
// starts with a dash.
func TestFlagsAfterArguments(t *testing.T) {
	f := newPushFixture(t)
	ok := func(args ...string) {
		t.Helper()
		if code, out, errs := f.run(nil, args...); code != 0 || out != "" || errs != "" {
			t.Fatalf("%v: exit %d, want 0 and no output\nstdout: %s\nstderr: %s", args, code, out, errs)
		}
	}
	ok("send-to-client", f.ids["a"], "late flags", "--secret", pushTestSecret, "--timeout", "20s")
	ok("send-to-all", "not a", "--exclude", f.ids["a"], "--secret="+pushTestSecret)
	ok("send-to-client", "--secret", pushTestSecret, f.ids["b"], "--timeout", "20s", "--", "--not-a-flag")
	f.expect("a", "late flags")
	f.expect("b", "not a", "--not-a-flag")

	// Wrong arguments still fail as usage errors, flags after them or not.
	for _, bad := range [][]string{
		{"send-to-client", f.ids["a"], "--secret", pushTestSecret},              // no TEXT
		{"send-to-client", f.ids["a"], "x", "y", "--secret", pushTestSecret},    // one too many
		{"send-to-client", f.ids["a"], "x", "--nope"},                           // unknown flag
		{"send-to-client", f.ids["a"], "x", "--secret"},                         // flag without value
		{"stats", "extra", "--secret", pushTestSecret},                          // stats takes no argument
		{"send-to-uid", "", "x", "--secret", pushTestSecret, "--timeout", "5s"}, // empty uid
	} {
		if code, _, errs := f.run(nil, bad...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", bad, code, strings.TrimSpace(errs))
		}
	}
}

// TestNoRegisterOneError runs stats and a send against a register address
// nobody listens on: each prints one error naming the register, no table,
// and exits 1.
func TestNoRegisterOneError(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := lis.Addr().String()
	lis.Close()
	for _, args := range [][]string{
		{"stats", "--register", dead, "--timeout", "1s"},
		{"send-to-all", "hello", "--register", dead, "--timeout", "1s"},
		{"send-to-client", "0123456789abcdef0123456789abcdef", "hi", "--register", dead, "--timeout", "1s"},
	} {
		var out, errb bytes.Buffer
		start := time.Now()
		code := run(context.Background(), args, &out, &errb, func(string) string { return "" })
		if code != 1 {
			t.Errorf("%q: exit %d, want 1\nstderr: %s", args, code, errb.String())
		}
		if out.Len() != 0 {
			t.Errorf("%q: printed %q on stdout, want nothing", args, out.String())
		}
		lines := strings.Split(strings.TrimSpace(errb.String()), "\n")
		want := "gatewayworker: " + args[0] + ": no register answered within 1s (--register " + dead + ")"
		if len(lines) != 1 || !strings.HasPrefix(lines[0], want) {
			t.Errorf("%q: stderr %q, want one line starting %q", args, errb.String(), want)
		}
		if d := time.Since(start); d > 20*time.Second {
			t.Errorf("%q: took %v with --timeout 1s", args, d)
		}
	}
}

func TestVersionHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"version", "--help"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("version --help: exit %d", code)
	}
	if out.Len() != 0 || !strings.HasPrefix(errb.String(), "Usage: gatewayworker version\n") {
		t.Fatalf("version --help printed stdout %q, stderr %q; want the usage on stderr only", out.String(), errb.String())
	}
	for _, bad := range [][]string{{"version", "extra"}, {"version", "--short"}} {
		out.Reset()
		if code := run(context.Background(), bad, &out, &errb, func(string) string { return "" }); code != 2 || out.Len() != 0 {
			t.Errorf("%q: exit %d, stdout %q; want 2 and nothing printed", bad, code, out.String())
		}
	}
}

func TestHelpCommand(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"help", "stats"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("help stats: exit %d", code)
	}
	if !strings.HasPrefix(errb.String(), "Usage: gatewayworker stats [options]\n") || !strings.Contains(errb.String(), "--timeout") {
		t.Fatalf("help stats printed %q", errb.String())
	}
	errb.Reset()
	if code := run(context.Background(), []string{"help", "nope"}, &out, &errb, func(string) string { return "" }); code != 2 ||
		!strings.Contains(errb.String(), `unknown command "nope"`) {
		t.Fatalf("help nope: exit %d, %q", code, errb.String())
	}
}

func TestStatsDistinctErrors(t *testing.T) {
	if distinctErrors(nil) != nil {
		t.Fatal("distinctErrors(nil) != nil")
	}
	// stats joins its three queries' errors: the same deadline thrice is
	// one deadline, printed once.
	three := errors.Join(errors.Join(context.DeadlineExceeded, context.DeadlineExceeded), context.DeadlineExceeded)
	if got := distinctErrors(three); got != context.DeadlineExceeded {
		t.Fatalf("distinctErrors(3 x deadline) = %#v, want the deadline", got)
	}
	if !noRegister(three) {
		t.Fatal("noRegister(3 x deadline) = false")
	}
	gw := errors.Join(&businessworker.GatewayError{Node: "0000000000000001", Err: context.DeadlineExceeded})
	if noRegister(gw) {
		t.Fatal("noRegister(a gateway's deadline) = true: the register did answer")
	}
	mixed := errors.Join(errors.Join(context.DeadlineExceeded, context.Canceled), nil, context.DeadlineExceeded)
	if got := distinctErrors(mixed).Error(); got != "context deadline exceeded\ncontext canceled" {
		t.Fatalf("distinctErrors(mixed) = %q", got)
	}
}
