package browser

import (
	"fmt"
	"log/slog"
	"os/exec"
	"strings"
	"time"
)

const (
	// DefaultExecPath is the Chromium binary tried first when
	// Config.ExecPath is empty (the Debian and Ubuntu package).
	DefaultExecPath = "/usr/bin/chromium"

	// DefaultExecName is the name looked up in PATH when Config.ExecPath is
	// empty and DefaultExecPath does not exist.
	DefaultExecName = "chromium"

	// DefaultStartTimeout bounds the start of the browser and the opening of
	// each tab when Config.StartTimeout is zero.
	DefaultStartTimeout = 20 * time.Second

	// DefaultCloseTimeout bounds the graceful close of the browser by the
	// stop function of Start; after it the process is killed.
	DefaultCloseTimeout = 5 * time.Second
)

// Config configures Start. The zero value is ready to use.
type Config struct {
	// ExecPath is the Chromium binary: a path, or a name looked up in PATH.
	// Empty: DefaultExecPath when it exists, else DefaultExecName from PATH.
	ExecPath string

	// UserDataDir is the profile directory of the browser; pass an empty
	// directory the caller owns, such as t.TempDir(). Empty: chromedp
	// creates a temporary directory and removes it when the browser stops.
	UserDataDir string

	// StartTimeout bounds the start of the browser and the opening of each
	// tab. Zero: DefaultStartTimeout. Negative values are rejected.
	StartTimeout time.Duration

	// Logger receives the output of the browser process and the messages
	// of chromedp, at Debug level, and chromedp's errors at Warn level.
	// Nil: discard.
	Logger *slog.Logger
}

// Flags returns the command-line flags Start gives Chromium, in order,
// besides --user-data-dir. chromedp adds --remote-debugging-pipe (its
// control channel) and the first URL, about:blank; a distribution's launcher
// script, such as Debian's /usr/bin/chromium, may add flags of its own.
func Flags() []string {
	return []string{
		"--headless",
		"--no-sandbox",
		"--disable-gpu",
		"--disable-quic",
		"--no-first-run",
		"--disable-background-networking",
		"--disable-component-update",
		"--disable-sync",
	}
}

// LookPath resolves a Chromium binary as Start does: path itself when it is
// not empty, else DefaultExecPath, else DefaultExecName in PATH. It returns
// the absolute path, or an error wrapping ErrNotFound.
func LookPath(path string) (string, error) {
	candidates := []string{path}
	if path == "" {
		candidates = []string{DefaultExecPath, DefaultExecName}
	}
	for _, c := range candidates {
		if p, err := exec.LookPath(c); err == nil {
			return p, nil
		}
	}
	return "", fmt.Errorf("%w (tried %s)", ErrNotFound, strings.Join(candidates, ", "))
}

// withDefaults returns a copy of c with the defaults filled in and the
// binary resolved, or an error.
func (c Config) withDefaults() (Config, error) {
	if c.StartTimeout < 0 {
		return c, fmt.Errorf("%w: negative StartTimeout %v", ErrInvalidConfig, c.StartTimeout)
	}
	if c.StartTimeout == 0 {
		c.StartTimeout = DefaultStartTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
	p, err := LookPath(c.ExecPath)
	if err != nil {
		return c, err
	}
	c.ExecPath = p
	return c, nil
}
