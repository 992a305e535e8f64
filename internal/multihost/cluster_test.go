//go:build linux

package multihost

import (
	"bufio"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/netns"
)

// binDirEnv names a directory holding prebuilt gatewayworker and chat
// binaries; unset, the test builds them.
const binDirEnv = "GW_MULTIHOST_BIN_DIR"

// binaries are the programs under test.
type binaries struct {
	gatewayworker, chat string
}

// buildBinaries builds the gatewayworker command and the chat example, or
// takes them from $GW_MULTIHOST_BIN_DIR.
func buildBinaries(t *testing.T) binaries {
	t.Helper()
	if dir := os.Getenv(binDirEnv); dir != "" {
		return binaries{filepath.Join(dir, "gatewayworker"), filepath.Join(dir, "chat")}
	}
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	b := binaries{filepath.Join(dir, "gatewayworker"), filepath.Join(dir, "chat")}
	cmd := exec.Command("go", "build", "-o", dir+string(filepath.Separator), "./cmd/gatewayworker", "./examples/chat")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return b
}

// logLine is one line a process printed, with when the test read it.
type logLine struct {
	at   time.Time
	text string
}

// proc is one program running on a host, its output kept line by line.
type proc struct {
	name   string
	cmd    *exec.Cmd
	exited chan struct{} // closed once Wait returned
	err    error         // Wait's result, valid after exited

	mu    sync.Mutex
	lines []logLine
}

// cluster starts programs on hosts and stops them all at cleanup.
type cluster struct {
	t      *testing.T
	env    []string
	procs  []*proc
	readWG sync.WaitGroup
}

func newCluster(t *testing.T, secret string) *cluster {
	// The log matchers read slog's text format at info level: pin it
	// against GW_* settings of the environment (the last value wins).
	env := append(os.Environ(), "GW_SECRET="+secret, "GW_LOG_FORMAT=text", "GW_LOG_LEVEL=info")
	c := &cluster{t: t, env: env}
	t.Cleanup(c.stopAll)
	return c
}

// start runs bin with args on h.
func (c *cluster) start(h *netns.Host, name, bin string, args ...string) *proc {
	c.t.Helper()
	return c.run(name, h.Command(context.Background(), bin, args...))
}

// run starts cmd with the cluster's environment plus cmd.Env.
func (c *cluster) run(name string, cmd *exec.Cmd) *proc {
	c.t.Helper()
	cmd.Env = append(slices.Clone(c.env), cmd.Env...)
	r, w, err := os.Pipe()
	if err != nil {
		c.t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = w, w
	if err := cmd.Start(); err != nil {
		r.Close()
		w.Close()
		c.t.Fatalf("start %s: %v", name, err)
	}
	w.Close()
	p := &proc{name: name, cmd: cmd, exited: make(chan struct{})}
	c.procs = append(c.procs, p)
	c.readWG.Go(func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64<<10), 1<<20)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, logLine{at: time.Now(), text: sc.Text()})
			p.mu.Unlock()
		}
		r.Close()
		p.err = cmd.Wait()
		close(p.exited)
	})
	return p
}

// kill sends sig and waits for the process to end.
func (p *proc) kill(t *testing.T, sig syscall.Signal) {
	t.Helper()
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		t.Errorf("%s did not exit on %v", p.name, sig)
	}
}

// running reports whether the process has not exited.
func (p *proc) running() bool {
	select {
	case <-p.exited:
		return false
	default:
		return true
	}
}

// firstLine returns the first line printed at or after since that match
// accepts.
func (p *proc) firstLine(since time.Time, match func(string) bool) (logLine, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, l := range p.lines {
		if !l.at.Before(since) && match(l.text) {
			return l, true
		}
	}
	return logLine{}, false
}

// tail returns the last n lines.
func (p *proc) tail(n int) string {
	p.mu.Lock()
	defer p.mu.Unlock()
	lines := p.lines[max(0, len(p.lines)-n):]
	var b strings.Builder
	for _, l := range lines {
		b.WriteString(l.at.Format("15:04:05.000 "))
		b.WriteString(l.text)
		b.WriteByte('\n')
	}
	return b.String()
}

// stopAll stops every process still running (SIGTERM, then SIGKILL after
// a grace period) and, when the test failed, logs their last lines.
func (c *cluster) stopAll() {
	for _, p := range c.procs {
		if p.running() {
			_ = p.cmd.Process.Signal(syscall.SIGTERM)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, p := range c.procs {
		select {
		case <-p.exited:
		case <-time.After(time.Until(deadline)):
			_ = p.cmd.Process.Kill()
			<-p.exited
		}
	}
	c.readWG.Wait()
	if c.t.Failed() {
		for _, p := range c.procs {
			c.t.Logf("--- %s (exit: %v), last lines:\n%s", p.name, p.err, p.tail(40))
		}
	}
}
