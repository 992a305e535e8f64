package browser

import "errors"

var (
	// ErrNotFound is returned when no Chromium binary is found.
	ErrNotFound = errors.New("browser: no chromium binary found")

	// ErrTimeout is returned when the browser or a tab does not start in
	// time.
	ErrTimeout = errors.New("browser: start timed out")

	// ErrInvalidConfig is returned by Start for a Config it cannot use.
	ErrInvalidConfig = errors.New("browser: invalid config")

	// ErrNotBrowser is returned by NewTab for a context that does not come
	// from Start or NewTab.
	ErrNotBrowser = errors.New("browser: context has no browser")
)
