// Package browser starts a headless Chromium for end-to-end tests and opens
// tabs in it, so that a test can drive a real page with chromedp.
//
// Start launches the browser with a fixed, minimal set of flags (see Flags)
// and returns the chromedp context of its first tab; NewTab opens more tabs
// in the same browser. Every call is bounded by a timeout, and the stop
// function that Start returns closes the browser and waits for its process
// to exit.
//
// A test skips itself when no binary is installed:
//
//	if _, err := browser.LookPath(""); errors.Is(err, browser.ErrNotFound) {
//		t.Skip(err)
//	}
package browser
