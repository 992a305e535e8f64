package browser

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/chromedp"
)

// maxLine caps a buffered line of browser output; longer lines are logged
// in pieces.
const maxLine = 4 << 10

// Start launches Chromium with Flags and cfg, and returns the chromedp
// context of its first tab, ready for chromedp.Run and for NewTab.
//
// The browser lives until ctx is done or stop is called. stop closes the
// browser gracefully (up to DefaultCloseTimeout, then kills it), waits for
// its process to exit, and returns the error of the graceful close, or nil
// when ctx was already done. stop may be called more than once; later calls
// return the first result. Call it before removing cfg.UserDataDir.
//
// Start blocks until the first tab is open, for at most cfg.StartTimeout.
// It returns an error wrapping ErrNotFound when there is no binary,
// ErrTimeout when the browser does not start in time, and ErrInvalidConfig
// for a bad cfg.
func Start(ctx context.Context, cfg Config) (tab context.Context, stop func() error, err error) {
	cfg, err = cfg.withDefaults()
	if err != nil {
		return nil, nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, nil, fmt.Errorf("browser: start: %w", err)
	}
	log := cfg.Logger

	opts := make([]chromedp.ExecAllocatorOption, 0, len(Flags())+3)
	opts = append(opts, chromedp.ExecPath(cfg.ExecPath))
	for _, f := range Flags() {
		opts = append(opts, chromedp.Flag(strings.TrimPrefix(f, "--"), true))
	}
	if cfg.UserDataDir != "" {
		opts = append(opts, chromedp.UserDataDir(cfg.UserDataDir))
	}
	if log.Enabled(ctx, slog.LevelDebug) {
		opts = append(opts, chromedp.CombinedOutput(&lineLogger{log: log}))
	}
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx, opts...)
	tab, cancelTab := chromedp.NewContext(allocCtx,
		chromedp.WithLogf(func(format string, args ...any) {
			log.Debug("chromedp: " + fmt.Sprintf(format, args...))
		}),
		chromedp.WithErrorf(func(format string, args ...any) {
			log.Warn("chromedp: " + fmt.Sprintf(format, args...))
		}),
	)
	kill := func() {
		cancelTab()   // waits for the tab and for the browser process to stop
		cancelAlloc() // waits for the allocator's goroutines
	}
	if err := open(tab, kill, cfg.StartTimeout); err != nil {
		kill()
		return nil, nil, fmt.Errorf("browser: start %s: %w", cfg.ExecPath, err)
	}
	log.Debug("browser started", "exec", cfg.ExecPath, "user_data_dir", cfg.UserDataDir)

	stop = sync.OnceValue(func() error {
		defer kill()
		if tab.Err() != nil {
			return nil // ctx is done: chromedp is already killing the browser
		}
		cctx, cancel := context.WithTimeout(tab, DefaultCloseTimeout)
		defer cancel()
		if err := chromedp.Cancel(cctx); err != nil && ctx.Err() == nil {
			return fmt.Errorf("browser: close: %w", err)
		}
		return nil
	})
	return tab, stop, nil
}

// NewTab opens a new tab in the browser of parent, a context returned by
// Start or NewTab, and returns its chromedp context. Opening is bounded by
// DefaultStartTimeout. cancel closes the tab and waits for it to close; the
// tab also closes when parent is done.
func NewTab(parent context.Context) (tab context.Context, cancel context.CancelFunc, err error) {
	if c := chromedp.FromContext(parent); c == nil || c.Browser == nil {
		return nil, nil, ErrNotBrowser
	}
	tab, cancel = chromedp.NewContext(parent)
	if err := open(tab, cancel, DefaultStartTimeout); err != nil {
		cancel()
		return nil, nil, fmt.Errorf("browser: new tab: %w", err)
	}
	return tab, cancel, nil
}

// open runs an empty action on the chromedp context tab, which starts the
// browser or opens the tab. The context of that first action owns the
// browser or tab for its whole life, so it cannot carry a timeout: a timer
// calls cancel instead when opening takes longer than timeout.
func open(tab context.Context, cancel func(), timeout time.Duration) error {
	fired := make(chan struct{})
	timer := time.AfterFunc(timeout, func() {
		cancel()
		close(fired)
	})
	err := chromedp.Do(tab)
	if !timer.Stop() {
		<-fired // the timer's goroutine has finished cancelling
		return fmt.Errorf("%w after %v", ErrTimeout, timeout)
	}
	return err
}

// lineLogger is an io.Writer that logs each line of the browser's output at
// Debug level.
type lineLogger struct {
	log *slog.Logger

	mu  sync.Mutex
	buf []byte
}

func (w *lineLogger) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.emit(w.buf[:i])
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) >= maxLine {
		w.emit(w.buf)
		w.buf = w.buf[:0]
	}
	return len(p), nil
}

func (w *lineLogger) emit(line []byte) {
	if line = bytes.TrimSpace(line); len(line) > 0 {
		w.log.Debug("browser output", "line", string(line))
	}
}
