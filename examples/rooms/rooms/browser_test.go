package rooms

import (
	"context"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/internal/browser"
	"github.com/gatewayworker/gatewayworker/internal/testcluster"
	"github.com/gatewayworker/gatewayworker/pushclient"
)

const browserStep = 15 * time.Second

// TestBrowserTwoTabs drives the page in two tabs of a headless Chromium:
// log in, the online list, a room message, a private message and a push
// from outside the workers.
func TestBrowserTwoTabs(t *testing.T) {
	if testing.Short() {
		t.Skip("skipping the browser test in -short mode")
	}
	if _, err := browser.LookPath(""); err != nil {
		t.Skipf("skipping the browser test: %v", err)
	}
	c := testcluster.NewCluster(t, "rooms")
	g := c.AddGateway("g", nil)
	c.AddWorker(&Handler{})
	page, err := Page(g.WS)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(page)
	defer srv.Close()

	ctx, cancel := context.WithTimeout(t.Context(), 45*time.Second)
	defer cancel()
	ann, stop, err := browser.Start(ctx, browser.Config{UserDataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stop(); err != nil {
			t.Errorf("stop browser: %v", err)
		}
	}()
	bob, closeBob, err := browser.NewTab(ann)
	if err != nil {
		t.Fatal(err)
	}
	defer closeBob()

	do := func(tab context.Context, js string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(tab, browserStep)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Evaluate[bool](js+"; true")); err != nil {
			t.Fatalf("%s: %v", js, err)
		}
	}
	wait := func(tab context.Context, what, expr string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(tab, browserStep)
		defer cancel()
		_, err := chromedp.Run(sctx, chromedp.Poll[bool](expr,
			chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(browserStep)))
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	}
	logHas := func(text string) string {
		return `[...document.querySelectorAll("#log p")].some(p => p.textContent === ` + strconv.Quote(text) + `)`
	}
	login := func(tab context.Context, name string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(tab, browserStep)
		defer cancel()
		if err := chromedp.Do(sctx, chromedp.Navigate(srv.URL+"/")); err != nil {
			t.Fatal(err)
		}
		do(tab, `document.getElementById("name").value = `+strconv.Quote(name)+`; document.getElementById("login").requestSubmit()`)
		wait(tab, name+" welcomed", logHas("you are "+name))
	}
	say := func(tab context.Context, text string) {
		t.Helper()
		do(tab, `document.getElementById("text").value = `+strconv.Quote(text)+`; document.getElementById("say").requestSubmit()`)
	}
	const onlineBoth = `[...document.querySelectorAll("#online li")].map(li => li.textContent).join(",") === "ann,bob"`

	login(ann, "ann")
	login(bob, "bob")
	wait(ann, "ann sees both online", onlineBoth)
	wait(bob, "bob sees both online", onlineBoth)

	say(ann, "hello room")
	wait(bob, "bob sees ann's message", logHas("ann: hello room"))
	say(bob, "/pm ann just you")
	wait(ann, "ann gets the private message", logHas("[private] bob → ann: just you"))

	p, err := pushclient.New(pushclient.Config{Registers: []string{c.Register}, Secret: "rooms"})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close(context.Background())
	if err := p.SendToAll(ctx, businessworker.Text("maintenance at 5")); err != nil {
		t.Fatal(err)
	}
	wait(ann, "ann sees the push", logHas("server: maintenance at 5"))
	wait(bob, "bob sees the push", logHas("server: maintenance at 5"))
}
