package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"go.uber.org/goleak"

	"github.com/gatewayworker/gatewayworker/internal/browser"
)

// Bounds of TestBrowserChatTwoTabs; the whole test stays under a minute.
const (
	browserTestTimeout = 45 * time.Second // the browser and every wait
	browserStepTimeout = 15 * time.Second // one wait in the page
	demoStopTimeout    = 10 * time.Second // run returning after cancel
)

// TestBrowserChatTwoTabs runs the demo in-process and drives the chat page
// in two tabs of a real headless Chromium: both tabs connect, both get the
// timed push, a message typed and sent in tab 1 shows in both tabs, and a
// screenshot of tab 2 is saved (and copied to $GW_SCREENSHOT_DIR if set).
// Compression is on (the default) with a threshold low enough for the
// chat's messages: both tabs negotiate permessage-deflate and get
// compressed frames, as the gateway's metrics show.
func TestBrowserChatTwoTabs(t *testing.T) {
	ctx := browserTest(t)

	// The demo, on free loopback ports.
	d := startDemo(ctx, t, "--tick", "1s", "--compression-threshold", "16")
	defer d.stop()
	pageURL, demoLog, httpAddr := d.pageURL, d.log, d.http

	// The browser, with two tabs on the page.
	tab1, stopBrowser, err := browser.Start(ctx, browser.Config{UserDataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stopBrowser(); err != nil {
			t.Errorf("stop browser: %v", err)
		}
	}()
	tab2, closeTab2, err := browser.NewTab(tab1)
	if err != nil {
		t.Fatal(err)
	}
	defer closeTab2()

	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\ntab 1 log:\n%s\ntab 2 log:\n%s\ndemo output:\n%s",
			fmt.Sprintf(format, args...), pageLog(tab1), pageLog(tab2), demoLog.String())
	}
	tabs := []struct {
		name string
		ctx  context.Context
	}{{"tab1", tab1}, {"tab2", tab2}}
	for _, tab := range tabs {
		err := step(tab.ctx, chromedp.EmulateViewport(900, 640),
			chromedp.Navigate(pageURL+"?nick="+tab.name))
		if err != nil {
			fail("%s: open the page: %v", tab.name, err)
		}
	}
	for _, tab := range tabs {
		if err := waitJS(tab.ctx, `document.getElementById("status").className === "up"`); err != nil {
			fail("%s: not connected: %v", tab.name, err)
		}
	}

	// A timed push in both tabs also proves the worker is serving the gateway.
	const tickJS = `[...document.querySelectorAll("#log div.tick")].some(d => d.textContent.startsWith("server time "))`
	for _, tab := range tabs {
		if err := waitJS(tab.ctx, tickJS); err != nil {
			fail("%s: no timed push (\"server time ...\"): %v", tab.name, err)
		}
	}

	// Long and repetitive, so that it compresses (a short message does not
	// shrink and goes uncompressed).
	text := strings.Repeat("hello from a real browser, ", 6) + "bye"
	if err := step(tab1, chromedp.SendKeys(chromedp.ID("text"), text), chromedp.Click(chromedp.ID("send"))); err != nil {
		fail("tab1: type and send: %v", err)
	}
	want := "tab1: " + text
	hasMessage := fmt.Sprintf(`[...document.querySelectorAll("#log div")].some(d => d.textContent === %q)`, want)
	for _, tab := range []struct {
		name string
		ctx  context.Context
	}{{"tab2", tab2}, {"tab1", tab1}} {
		if err := waitJS(tab.ctx, hasMessage); err != nil {
			fail("%s: message %q not shown: %v", tab.name, want, err)
		}
	}
	if err := waitJS(tab1, `document.getElementById("text").value === ""`); err != nil {
		fail("tab1: the input was not cleared after send: %v", err)
	}

	// Both tabs negotiated permessage-deflate, received the chat message
	// compressed and sent nothing the gateway refused (Chromium compresses
	// what it sends too).
	metrics, err := fetchText(ctx, "http://"+httpAddr+"/metrics")
	if err != nil {
		fail("metrics: %v", err)
	}
	for _, want := range []string{
		"gatewayworker_gateway_compressed_connections 2\n",
		"gatewayworker_gateway_protocol_error_closes_total 0\n",
	} {
		if !strings.Contains(metrics, want) {
			fail("metrics: no %q in\n%s", want, metrics)
		}
	}
	if v := metricValue(metrics, "gatewayworker_gateway_compressed_messages_sent_total"); v < 2 {
		fail("%v compressed messages sent, want at least 2 (the chat message to both tabs)", v)
	}

	saveScreenshot(t, tab2, "chat-tab2.png")
}

// fetchText GETs url and returns its body.
func fetchText(ctx context.Context, url string) (string, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return "", err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err == nil && resp.StatusCode != http.StatusOK {
		err = fmt.Errorf("status %s", resp.Status)
	}
	return string(b), err
}

// metricValue returns the value of an unlabelled sample in a Prometheus
// text exposition, or -1.
func metricValue(text, name string) float64 {
	for line := range strings.Lines(text) {
		if v, ok := strings.CutPrefix(strings.TrimSpace(line), name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err == nil {
				return f
			}
		}
	}
	return -1
}

// step runs actions on a tab with browserStepTimeout.
func step(tab context.Context, actions ...chromedp.Action[chromedp.Void]) error {
	ctx, cancel := context.WithTimeout(tab, browserStepTimeout)
	defer cancel()
	return chromedp.Do(ctx, actions...)
}

// waitJS waits up to browserStepTimeout for a JavaScript expression to be
// true in a tab.
func waitJS(tab context.Context, expr string) error {
	ctx, cancel := context.WithTimeout(tab, browserStepTimeout)
	defer cancel()
	_, err := chromedp.Run(ctx, chromedp.Poll[bool](expr,
		chromedp.WithPollingInterval(50*time.Millisecond),
		chromedp.WithPollingTimeout(browserStepTimeout)))
	return err
}

// pageLog returns a tab's status line and the last lines of its #log, for
// failure messages.
func pageLog(tab context.Context) string {
	ctx, cancel := context.WithTimeout(tab, 2*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => {
		const status = document.getElementById("status"), log = document.getElementById("log");
		const lines = log ? [...log.children].map(d => d.textContent).slice(-15) : ["(no #log)"];
		return [status ? status.textContent : "(no #status)", ...lines].join("\n");
	})()`))
	if err != nil {
		return "(unavailable: " + err.Error() + ")"
	}
	return s
}

// saveScreenshot captures a tab as a PNG in the test's temporary directory
// and, when GW_SCREENSHOT_DIR is set, copies it there.
func saveScreenshot(t *testing.T, tab context.Context, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tab, browserStepTimeout)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if !bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot is not a PNG (%d bytes)", len(png))
	}
	dirs := []string{t.TempDir()}
	if d := os.Getenv("GW_SCREENSHOT_DIR"); d != "" {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatalf("GW_SCREENSHOT_DIR: %v", err)
		}
		dirs = append(dirs, d)
	}
	for _, d := range dirs {
		p := filepath.Join(d, name)
		if err := os.WriteFile(p, png, 0o644); err != nil {
			t.Fatalf("save screenshot: %v", err)
		}
		t.Logf("screenshot of tab 2: %s", p)
	}
}

// freeAddrs returns n distinct free 127.0.0.1 TCP addresses. All listeners
// stay open until every address is picked, so the n are distinct.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, 0, n)
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		addrs = append(addrs, l.Addr().String())
	}
	return addrs
}

// waitHTTP polls url until it answers 200 OK, exited is closed, or ctx ends.
func waitHTTP(ctx context.Context, url string, exited <-chan struct{}) error {
	client := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: time.Second}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	var last error
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return err
		}
		resp, err := client.Do(req)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			err = fmt.Errorf("status %s", resp.Status)
		}
		last = err
		select {
		case <-exited:
			return fmt.Errorf("demo exited before serving %s", url)
		case <-ctx.Done():
			return fmt.Errorf("%s not ready: %w (last error: %v)", url, ctx.Err(), last)
		case <-tick.C:
		}
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writes: the demo logs
// from several goroutines while the test reads it for failure messages.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// browserTest skips t without Chromium or in -short mode; else it returns
// the test's context (bounded by browserTestTimeout) and checks, once
// everything the test deferred has stopped, that no goroutine is left.
func browserTest(t *testing.T) context.Context {
	t.Helper()
	if testing.Short() {
		t.Skip("skipping the browser test in -short mode")
	}
	if _, err := browser.LookPath(""); err != nil {
		t.Skipf("skipping the browser test: %v; install Chromium (apt-get install chromium)", err)
	}
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	ctx, cancel := context.WithTimeout(t.Context(), browserTestTimeout)
	t.Cleanup(cancel)
	return ctx
}

// demoRun is `gatewayworker demo` run in process on free loopback ports.
type demoRun struct {
	ws, http string
	pageURL  string
	log      *lockedBuffer
	stop     func() // cancels the demo and checks that it exited with 0
}

// startDemo runs the demo with the extra flags and waits until its chat
// page is served. Defer stop.
func startDemo(ctx context.Context, t *testing.T, extra ...string) *demoRun {
	t.Helper()
	addrs := freeAddrs(t, 4)
	d := &demoRun{ws: addrs[0], http: addrs[3], pageURL: "http://" + addrs[3] + "/", log: new(lockedBuffer)}
	demoCtx, cancel := context.WithCancel(ctx)
	var code int
	done := make(chan struct{}) // closed when run returns, after code is set
	go func() {
		defer close(done)
		args := append([]string{"demo", "--listen", addrs[0], "--lan", addrs[1], "--register-listen", addrs[2], "--http", addrs[3]}, extra...)
		code = run(demoCtx, args, d.log, d.log, func(string) string { return "" })
	}()
	d.stop = func() {
		cancel()
		select {
		case <-done:
			if code != 0 {
				t.Errorf("demo exited with code %d, want 0; output:\n%s", code, d.log.String())
			}
		case <-time.After(demoStopTimeout):
			t.Errorf("demo did not stop within %v of cancel; output:\n%s", demoStopTimeout, d.log.String())
		}
	}
	if err := waitHTTP(ctx, d.pageURL, done); err != nil {
		d.stop()
		t.Fatalf("chat page: %v; demo output:\n%s", err, d.log.String())
	}
	return d
}
