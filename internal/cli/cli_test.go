package cli

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

type opts struct {
	listen  string
	regs    []string
	pending int64
	timeout time.Duration
	conns   int
}

func newSet(o *opts, env map[string]string) *Set {
	s := New("gateway", "test", io.Discard, func(k string) string { return env[k] })
	s.String(&o.listen, "listen", "127.0.0.1:7272", "listen")
	s.List(&o.regs, "register", []string{"127.0.0.1:1236"}, "registers")
	s.Int64(&o.pending, "max-pending", 1<<20, "bytes")
	s.Duration(&o.timeout, "handshake-timeout", 10*time.Second, "timeout")
	s.Int(&o.conns, "max-connections", 0, "max")
	return s
}

func TestPrecedence(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, "gw.yaml")
	if err := os.WriteFile(file, []byte("listen: 0.0.0.0:1\nregister: [a:1, b:2]\nmax-pending: 64KiB\nmax-connections: 5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	var o opts
	env := map[string]string{"GW_LISTEN": "0.0.0.0:2", "GW_HANDSHAKE_TIMEOUT": "3s"}
	s := newSet(&o, env)
	if err := s.Parse([]string{"--config", file, "--max-connections", "7"}); err != nil {
		t.Fatal(err)
	}
	if o.listen != "0.0.0.0:2" { // env beats file
		t.Errorf("listen = %q, want env value", o.listen)
	}
	if strings.Join(o.regs, ",") != "a:1,b:2" { // file beats default
		t.Errorf("register = %v", o.regs)
	}
	if o.pending != 64<<10 {
		t.Errorf("max-pending = %d", o.pending)
	}
	if o.timeout != 3*time.Second {
		t.Errorf("handshake-timeout = %v", o.timeout)
	}
	if o.conns != 7 { // flag beats file
		t.Errorf("max-connections = %d", o.conns)
	}
}

func TestDefaults(t *testing.T) {
	var o opts
	if err := newSet(&o, nil).Parse(nil); err != nil {
		t.Fatal(err)
	}
	if o.listen != "127.0.0.1:7272" || len(o.regs) != 1 || o.pending != 1<<20 || o.timeout != 10*time.Second {
		t.Fatalf("defaults not applied: %+v", o)
	}
}

func TestBadValuesNameTheOption(t *testing.T) {
	var o opts
	err := newSet(&o, map[string]string{"GW_MAX_PENDING": "lots"}).Parse(nil)
	if err == nil || !strings.Contains(err.Error(), "GW_MAX_PENDING") {
		t.Fatalf("err = %v, want one naming GW_MAX_PENDING", err)
	}
	err = newSet(&o, nil).Parse([]string{"--handshake-timeout", "soon"})
	if err == nil || !strings.Contains(err.Error(), "handshake-timeout") {
		t.Fatalf("err = %v, want one naming handshake-timeout", err)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "gw.yaml")
	_ = os.WriteFile(file, []byte("listne: x\n"), 0o600)
	err = newSet(&o, nil).Parse([]string{"--config", file})
	if err == nil || !strings.Contains(err.Error(), "listne") {
		t.Fatalf("err = %v, want unknown option listne", err)
	}
}

func TestHelp(t *testing.T) {
	var o opts
	var buf strings.Builder
	s := newSet(&o, nil)
	s.fs.SetOutput(&buf)
	if err := s.Parse([]string{"--help"}); !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v", err)
	}
	for _, want := range []string{"--max-pending", "GW_MAX_PENDING", "1MiB", "--register", "127.0.0.1:1236"} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("help lacks %q:\n%s", want, buf.String())
		}
	}
}

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{"1": 1, "1KiB": 1024, "1MiB": 1 << 20, "2MB": 2e6, " 3 GiB ": 3 << 30} {
		got, err := ParseSize(in)
		if err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "x", "-1", "1.5MiB"} {
		if _, err := ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) succeeded", in)
		}
	}
}

func TestLogging(t *testing.T) {
	var buf strings.Builder
	l := Logging{Level: "warn", Format: "json"}
	log, err := l.Logger(&buf)
	if err != nil {
		t.Fatal(err)
	}
	log.Info("hidden")
	log.Warn("shown", "k", 1)
	if strings.Contains(buf.String(), "hidden") || !strings.Contains(buf.String(), `"msg":"shown"`) {
		t.Fatalf("output %q", buf.String())
	}
	if _, err := (&Logging{Level: "loud"}).Logger(io.Discard); err == nil || !strings.Contains(err.Error(), "--log-level") {
		t.Fatalf("bad level accepted: %v", err)
	}
	if _, err := (&Logging{Level: "info", Format: "xml"}).Logger(io.Discard); err == nil || !strings.Contains(err.Error(), "--log-format") {
		t.Fatalf("bad format accepted: %v", err)
	}
}

func TestFlagsAfterArguments(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		listen  string
		regs    string
		verbose bool
		pos     []string
	}{
		{[]string{"a", "b", "--listen", "x:1"}, "x:1", "127.0.0.1:1236", false, []string{"a", "b"}},
		{[]string{"a", "--listen=x:2", "b", "--verbose"}, "x:2", "127.0.0.1:1236", true, []string{"a", "b"}},
		{[]string{"--verbose", "a", "--register", "r:1,r:2", "b"}, "127.0.0.1:7272", "r:1,r:2", true, []string{"a", "b"}},
		// A bool flag takes no separate value: "false" is positional.
		{[]string{"--verbose", "false"}, "127.0.0.1:7272", "127.0.0.1:1236", true, []string{"false"}},
		// "--" ends the flags; a value may itself start with a dash.
		{[]string{"a", "--", "--listen", "-b"}, "127.0.0.1:7272", "127.0.0.1:1236", false, []string{"a", "--listen", "-b"}},
		{[]string{"--listen", "-x", "a"}, "-x", "127.0.0.1:1236", false, []string{"a"}},
		{[]string{"-", "--listen", "y:3"}, "y:3", "127.0.0.1:1236", false, []string{"-"}},
	} {
		var o opts
		var verbose bool
		s := New("send", "test\n\nARGS: A B", io.Discard, func(string) string { return "" })
		s.String(&o.listen, "listen", "127.0.0.1:7272", "listen")
		s.List(&o.regs, "register", []string{"127.0.0.1:1236"}, "registers")
		s.Bool(&verbose, "verbose", false, "verbose")
		if err := s.Parse(tc.args); err != nil {
			t.Fatalf("%q: %v", tc.args, err)
		}
		if o.listen != tc.listen || strings.Join(o.regs, ",") != tc.regs || verbose != tc.verbose ||
			strings.Join(s.Args(), "|") != strings.Join(tc.pos, "|") {
			t.Errorf("%q: listen %q register %v verbose %v args %q; want %q %q %v %q",
				tc.args, o.listen, o.regs, verbose, s.Args(), tc.listen, tc.regs, tc.verbose, tc.pos)
		}
	}
}

func TestFlagErrorsAfterArguments(t *testing.T) {
	for args, want := range map[string]string{
		"a --nope":           "flag provided but not defined: -nope",
		"a b --listen":       "flag needs an argument: -listen",
		"a --max-pending xl": "max-pending",
	} {
		var o opts
		s := New("send", "test\n\nARGS: A B", io.Discard, func(string) string { return "" })
		s.String(&o.listen, "listen", "", "listen")
		s.Int64(&o.pending, "max-pending", 0, "bytes")
		err := s.Parse(strings.Fields(args))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: err = %v, want one containing %q", args, err, want)
		}
	}
	var o opts
	var help strings.Builder
	s := New("send", "test\n\nARGS: A B", &help, func(string) string { return "" })
	s.String(&o.listen, "listen", "", "listen")
	if err := s.Parse([]string{"a", "--help"}); !errors.Is(err, ErrHelp) {
		t.Errorf("help after an argument: err = %v", err)
	}
	if !strings.HasPrefix(help.String(), "Usage: gatewayworker send [options] A B\n") {
		t.Errorf("usage %q does not name the arguments", help.String())
	}
}

func TestOptionsOnlySetRefusesArguments(t *testing.T) {
	var o opts
	err := newSet(&o, nil).Parse([]string{"--listen", "x:1", "stray"})
	if err == nil || !strings.Contains(err.Error(), `unexpected argument "stray"`) {
		t.Fatalf("err = %v, want unexpected argument", err)
	}
}

func TestBareSet(t *testing.T) {
	var buf strings.Builder
	s := NewBare("version", "Print the version.", &buf)
	if err := s.Parse([]string{"--help"}); !errors.Is(err, ErrHelp) {
		t.Fatalf("err = %v, want ErrHelp", err)
	}
	if got := buf.String(); got != "Usage: gatewayworker version\n\nPrint the version.\n" {
		t.Fatalf("help %q", got)
	}
	if err := s.Parse([]string{"--config", "x.yaml"}); err == nil {
		t.Fatal("a bare set took --config")
	}
	if err := s.Parse([]string{"x"}); err == nil {
		t.Fatal("a bare set took an argument")
	}
	if err := s.Parse(nil); err != nil {
		t.Fatal(err)
	}
}
