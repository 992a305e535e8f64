package main

import (
	"fmt"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/gatewayworker/gatewayworker/internal/browser"
)

// TestBrowserSubprotocol runs the demo with --subprotocols chat.v1 and a
// real headless Chromium: the chat page (which asks for no subprotocol)
// still connects; a WebSocket the page opens with new WebSocket(url,
// ["chat.v1"]) negotiates chat.v1 (ws.protocol), one offering only an
// unknown protocol is refused by the browser itself (the server chose none,
// so the browser fails the connection), and a chat message sent on the
// chat.v1 socket reaches both it and the page's own connection.
func TestBrowserSubprotocol(t *testing.T) {
	ctx := browserTest(t)

	d := startDemo(ctx, t, "--tick", "1s", "--subprotocols", "chat.v1,chat.v0")
	defer d.stop()
	pageURL, demoLog, wsAddr := d.pageURL, d.log, d.ws

	tab, stopBrowser, err := browser.Start(ctx, browser.Config{UserDataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := stopBrowser(); err != nil {
			t.Errorf("stop browser: %v", err)
		}
	}()
	fail := func(format string, args ...any) {
		t.Helper()
		t.Fatalf("%s\npage log:\n%s\ndemo output:\n%s", fmt.Sprintf(format, args...), pageLog(tab), demoLog.String())
	}
	if err := step(tab, chromedp.Navigate(pageURL+"?nick=page")); err != nil {
		fail("open the page: %v", err)
	}
	if err := waitJS(tab, `document.getElementById("status").className === "up"`); err != nil {
		fail("the chat page did not connect: %v", err)
	}

	// The page opens its own sockets, one asking for chat.v1.
	open := fmt.Sprintf(`(() => {
		window.sub = {events: [], messages: []};
		const v1 = new WebSocket("ws://%[1]s/", ["chat.v1"]);
		v1.onopen = () => { window.sub.events.push("open:" + v1.protocol); v1.send("sub: hello over chat.v1"); };
		v1.onmessage = (e) => window.sub.messages.push(e.data);
		v1.onclose = (e) => window.sub.events.push("close:" + e.code);
		const other = new WebSocket("ws://%[1]s/", ["graphql-ws"]);
		other.onopen = () => window.sub.events.push("other-open:" + other.protocol);
		other.onerror = () => window.sub.events.push("other-error");
		return true;
	})()`, wsAddr)
	if _, err := chromedp.Run(tab, chromedp.Evaluate[bool](open)); err != nil {
		fail("open the sockets: %v", err)
	}
	if err := waitJS(tab, `window.sub.events.includes("open:chat.v1")`); err != nil {
		ev, _ := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify(window.sub.events)`))
		fail("no chat.v1 socket: %v (events %s)", err, ev)
	}
	if err := waitJS(tab, `window.sub.messages.includes("sub: hello over chat.v1")`); err != nil {
		fail("the chat.v1 socket did not get its broadcast back: %v", err)
	}
	const onPage = `[...document.querySelectorAll("#log div")].some(d => d.textContent === "sub: hello over chat.v1")`
	if err := waitJS(tab, onPage); err != nil {
		fail("the page's own connection did not get the message: %v", err)
	}
	// The browser fails a connection whose requested protocol the server
	// did not choose (RFC 6455 section 4.1): the demo supports no graphql-ws.
	if err := waitJS(tab, `window.sub.events.includes("other-error")`); err != nil {
		ev, _ := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify(window.sub.events)`))
		fail("the graphql-ws socket was not failed by the browser: %v (events %s)", err, ev)
	}
	ev, err := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify(window.sub.events)`))
	if err != nil {
		fail("events: %v", err)
	}
	t.Logf("page socket events: %s", ev)
}
