package loadgen

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os/exec"
	"sync"
	"time"
)

// The child protocol: JSON objects, one a line.
//
//	parent -> child  {"config":{...WorkerConfig}}
//	child  -> parent {"type":"connected","stats":{...}}
//	parent -> child  {"window":{...Window}}
//	child  -> parent {"type":"progress","stats":{...}}   (every second)
//	child  -> parent {"type":"result","stats":{...}}
//	child  -> parent {"type":"error","error":"..."}      (instead of any)
//
// The child exits when its stdin closes.
type childRequest struct {
	Config *WorkerConfig `json:"config,omitempty"`
	Window *Window       `json:"window,omitempty"`
}

type childMessage struct {
	Type  string `json:"type"`
	Stats *Stats `json:"stats,omitempty"`
	Error string `json:"error,omitempty"`
}

// childWaitDelay bounds how long a child may take to exit after its stdin
// is closed before it is killed.
const childWaitDelay = 5 * time.Second

// ServeChild is the body of a child process: it reads the requests of the
// parent from in and writes its messages to out, until in is closed or ctx
// ends.
func ServeChild(ctx context.Context, in io.Reader, out io.Writer, log *slog.Logger) error {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	enc := &lockedEncoder{enc: json.NewEncoder(out)}
	fail := func(err error) error {
		_ = enc.send(childMessage{Type: "error", Error: err.Error()})
		return err
	}

	reqs := make(chan childRequest)
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	wg.Go(func() { // reader of stdin: its end cancels the child
		defer cancel()
		dec := json.NewDecoder(in)
		for {
			var r childRequest
			if err := dec.Decode(&r); err != nil {
				return
			}
			select {
			case reqs <- r:
			case <-ctx.Done():
				return
			}
		}
	})
	next := func() (childRequest, error) {
		select {
		case r := <-reqs:
			return r, nil
		case <-ctx.Done():
			return childRequest{}, ctx.Err()
		}
	}

	r, err := next()
	if err != nil {
		return err
	}
	if r.Config == nil {
		return fail(fmt.Errorf("%w: first request has no config", ErrChild))
	}
	cfg := *r.Config
	cfg.Logger = log
	w, err := NewWorker(cfg)
	if err != nil {
		return fail(err)
	}
	defer func() { _ = w.Close() }()
	if err := w.Connect(ctx); err != nil {
		return fail(err)
	}
	st := w.Stats(false)
	if err := enc.send(childMessage{Type: "connected", Stats: &st}); err != nil {
		return err
	}
	if r, err = next(); err != nil {
		return err
	}
	if r.Window == nil {
		return fail(fmt.Errorf("%w: second request has no window", ErrChild))
	}

	done := make(chan struct{})
	wg.Go(func() { // progress reporter
		tick := time.NewTicker(DefaultProgressInterval)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				st := w.Stats(true)
				_ = enc.send(childMessage{Type: "progress", Stats: &st})
			}
		}
	})
	err = w.Run(ctx, *r.Window)
	close(done)
	if err != nil {
		return fail(err)
	}
	st = w.Stats(true)
	return enc.send(childMessage{Type: "result", Stats: &st})
}

type lockedEncoder struct {
	mu  sync.Mutex
	enc *json.Encoder
}

func (e *lockedEncoder) send(v any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.enc.Encode(v)
}

// childPart is a share of a run held by a child process.
type childPart struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	log   *slog.Logger

	connected chan struct{}
	result    chan struct{}
	exited    chan struct{} // closed when the reader has seen stdout end
	wg        sync.WaitGroup

	mu     sync.Mutex
	latest Stats
	err    error
	closed bool
}

var _ part = (*childPart)(nil)

func startChild(ctx context.Context, command func(context.Context) *exec.Cmd, wc WorkerConfig, log *slog.Logger) (*childPart, error) {
	cmd := command(ctx)
	cmd.WaitDelay = childWaitDelay
	stdin, err := cmd.StdinPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChild, err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrChild, err)
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%w: start: %w", ErrChild, err)
	}
	p := &childPart{
		cmd: cmd, stdin: stdin, log: log,
		connected: make(chan struct{}),
		result:    make(chan struct{}),
		exited:    make(chan struct{}),
	}
	p.wg.Go(func() { p.read(stdout) })
	if err := p.send(childRequest{Config: &wc}); err != nil {
		_ = p.close()
		return nil, err
	}
	return p, nil
}

func (p *childPart) send(r childRequest) error {
	b, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("%w: %w", ErrChild, err)
	}
	if _, err := p.stdin.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("%w: write: %w", ErrChild, err)
	}
	return nil
}

// read consumes the child's stdout until it ends.
func (p *childPart) read(stdout io.Reader) {
	defer close(p.exited)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	for sc.Scan() {
		var m childMessage
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			p.fail(fmt.Errorf("%w: bad line %q: %w", ErrChild, truncate(sc.Bytes()), err))
			continue
		}
		p.mu.Lock()
		if m.Stats != nil {
			p.latest = *m.Stats
		}
		p.mu.Unlock()
		switch m.Type {
		case "connected":
			close(p.connected)
		case "result":
			close(p.result)
		case "error":
			p.fail(fmt.Errorf("%w: %s", ErrChild, m.Error))
		}
	}
	p.fail(fmt.Errorf("%w: exited", ErrChild))
}

func truncate(b []byte) []byte {
	if len(b) > 200 {
		return b[:200]
	}
	return b
}

// fail records the first error.
func (p *childPart) fail(err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.err == nil {
		p.err = err
	}
}

func (p *childPart) failure() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.err
}

// wait waits for ch, or fails when the child does or ctx ends.
func (p *childPart) wait(ctx context.Context, ch chan struct{}) error {
	select {
	case <-ch:
		return nil
	case <-p.exited:
		select {
		case <-ch: // the message came just before the end
			return nil
		default:
		}
		return p.failure()
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (p *childPart) connect(ctx context.Context) error { return p.wait(ctx, p.connected) }

func (p *childPart) run(ctx context.Context, win Window) error {
	if err := p.send(childRequest{Window: &win}); err != nil {
		return err
	}
	return p.wait(ctx, p.result)
}

func (p *childPart) stats(withLatency bool) Stats {
	p.mu.Lock()
	defer p.mu.Unlock()
	s := p.latest
	if !withLatency {
		s.Latency = nil
	} else if s.Latency != nil {
		h := *s.Latency
		s.Latency = &h
	}
	return s
}

// close closes the child's stdin, which ends it, and waits for it.
func (p *childPart) close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.mu.Unlock()
	_ = p.stdin.Close()
	p.wg.Wait()
	err := p.cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return fmt.Errorf("%w: %w", ErrChild, err)
	}
	return err
}
