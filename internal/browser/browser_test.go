package browser

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// needChromium skips the test when no Chromium binary is installed.
func needChromium(t *testing.T) {
	t.Helper()
	if _, err := LookPath(""); err != nil {
		t.Skipf("skipping: %v (install the chromium package)", err)
	}
}

func TestLookPath(t *testing.T) {
	if _, err := LookPath(filepath.Join(t.TempDir(), "no-such-chromium")); !errors.Is(err, ErrNotFound) {
		t.Fatalf("LookPath(missing) = %v, want ErrNotFound", err)
	}
	p, err := LookPath("sh")
	if err != nil || !filepath.IsAbs(p) {
		t.Fatalf("LookPath(sh) = %q, %v; want an absolute path", p, err)
	}
}

func TestStartRejectsBadInput(t *testing.T) {
	ctx := t.Context()
	if _, _, err := Start(ctx, Config{StartTimeout: -time.Second}); !errors.Is(err, ErrInvalidConfig) {
		t.Errorf("negative StartTimeout: err = %v, want ErrInvalidConfig", err)
	}
	missing := filepath.Join(t.TempDir(), "no-such-chromium")
	if _, _, err := Start(ctx, Config{ExecPath: missing}); !errors.Is(err, ErrNotFound) {
		t.Errorf("missing binary: err = %v, want ErrNotFound", err)
	}
	if _, _, err := NewTab(ctx); !errors.Is(err, ErrNotBrowser) {
		t.Errorf("NewTab(plain context): err = %v, want ErrNotBrowser", err)
	}
	done, cancel := context.WithCancel(ctx)
	cancel()
	if _, _, err := Start(done, Config{ExecPath: "sh"}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled ctx: err = %v, want context.Canceled", err)
	}
}

// TestStartTimeout starts a "browser" that never speaks the protocol, and
// checks that Start gives up after StartTimeout and kills it.
func TestStartTimeout(t *testing.T) {
	fake := filepath.Join(t.TempDir(), "fake-chromium")
	if err := os.WriteFile(fake, []byte("#!/bin/sh\nexec sleep 30\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	begin := time.Now()
	_, _, err := Start(t.Context(), Config{ExecPath: fake, StartTimeout: 300 * time.Millisecond})
	if !errors.Is(err, ErrTimeout) {
		t.Fatalf("err = %v, want ErrTimeout", err)
	}
	if d := time.Since(begin); d > 10*time.Second {
		t.Errorf("Start returned after %v, want about the 300ms StartTimeout", d)
	}
}

const testPage = `<!doctype html><title>t</title><p id="out">loading</p>
<script>document.getElementById("out").textContent = "hello from " + location.pathname;</script>`

// TestStartTwoTabs runs a real Chromium: two tabs load a page whose script
// runs, the process has the flags of Flags, and stop ends the process.
func TestStartTwoTabs(t *testing.T) {
	needChromium(t)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		fmt.Fprint(w, testPage)
	}))
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 40*time.Second)
	defer cancel()
	var out bytes.Buffer
	log := slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))
	tab1, stop, err := Start(ctx, Config{UserDataDir: t.TempDir(), Logger: log})
	if err != nil {
		t.Fatal(err)
	}
	defer stop()
	tab2, closeTab2, err := NewTab(tab1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTab2()

	for i, tab := range []context.Context{tab1, tab2} {
		path := fmt.Sprintf("/tab%d", i+1)
		if err := chromedp.Do(tab, chromedp.Navigate(srv.URL+path)); err != nil {
			t.Fatalf("tab %d: navigate: %v", i+1, err)
		}
		got, err := chromedp.Run(tab, chromedp.Poll[string](
			`document.getElementById("out").textContent.startsWith("hello") && document.getElementById("out").textContent`,
			chromedp.WithPollingTimeout(10*time.Second)))
		if want := "hello from " + path; err != nil || got != want {
			t.Fatalf("tab %d: text = %q, %v; want %q", i+1, got, err, want)
		}
	}
	if chromedp.FromContext(tab1).Target == chromedp.FromContext(tab2).Target {
		t.Error("NewTab returned the first tab, want a new one")
	}

	proc := chromedp.FromContext(tab1).Browser.Process()
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", proc.Pid))
	if err != nil {
		t.Fatal(err)
	}
	args := strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
	for _, f := range Flags() {
		if !slices.Contains(args, f) {
			t.Errorf("browser command line lacks %s: %q", f, args)
		}
	}
	// Flags that chromedp's defaults would add, and Start must not.
	for _, f := range []string{"--enable-automation", "--hide-scrollbars", "--mute-audio", "--enable-unsafe-swiftshader", "--force-color-profile=srgb"} {
		if slices.Contains(args, f) {
			t.Errorf("browser command line has %s, which Start does not ask for: %q", f, args)
		}
	}

	if err := stop(); err != nil {
		t.Errorf("stop: %v", err)
	}
	if err := stop(); err != nil {
		t.Errorf("second stop: %v", err)
	}
	if _, err := os.Stat(fmt.Sprintf("/proc/%d", proc.Pid)); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("browser process %d still exists after stop (stat: %v)", proc.Pid, err)
	}
	if _, err := chromedp.Run(tab2, chromedp.Title()); err == nil {
		t.Error("tab 2 still works after stop")
	}
	// stop has waited for every writer of the log.
	if !strings.Contains(out.String(), "browser started") {
		t.Errorf("log lacks the start message:\n%s", out.String())
	}
}

func TestLineLogger(t *testing.T) {
	var out bytes.Buffer
	w := &lineLogger{log: slog.New(slog.NewTextHandler(&out, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, s := range []string{"first li", "ne\nsecond line\n", "\n  \n", "third"} {
		if n, err := w.Write([]byte(s)); n != len(s) || err != nil {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	got := out.String()
	for _, want := range []string{`line="first line"`, `line="second line"`} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %s:\n%s", want, got)
		}
	}
	if strings.Count(got, "\n") != 2 || strings.Contains(got, "third") {
		t.Errorf("want exactly the two complete, non-blank lines logged:\n%s", got)
	}
	w.Write(bytes.Repeat([]byte("x"), maxLine+1))
	if strings.Count(out.String(), "\n") != 3 {
		t.Errorf("an over-long partial line was not flushed:\n%s", out.String())
	}
}
