//go:build linux

package multihost

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"sync"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/netns"
)

// received is one message a client got.
type received struct {
	text string
	at   time.Time
}

// clients controls the client driver running on a host.
type clients struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	inMu   sync.Mutex
	readWG sync.WaitGroup

	mu      sync.Mutex
	nextReq int64
	waiting map[int64]chan event
	got     map[string][]received // by client id
	ended   map[string]event      // evClosed by client id
	errs    []event               // evError
	exited  bool                  // the driver's stdout ended
}

// startClients runs the driver on h. t.Cleanup stops it.
func startClients(t *testing.T, h *netns.Host) *clients {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := h.Command(context.Background(), exe)
	cmd.Env = append(os.Environ(), driverEnv+"="+driverMode)
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	c := &clients{
		cmd: cmd, stdin: stdin,
		waiting: map[int64]chan event{},
		got:     map[string][]received{},
		ended:   map[string]event{},
	}
	c.readWG.Go(func() { c.read(stdout) })
	t.Cleanup(func() {
		c.stdin.Close()
		done := make(chan struct{})
		go func() { c.readWG.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			c.cmd.Process.Kill()
			<-done
			t.Errorf("client driver did not exit when its stdin closed")
		}
		c.cmd.Wait()
		if t.Failed() {
			c.mu.Lock()
			for _, e := range c.errs[:min(len(c.errs), 20)] {
				t.Logf("client driver error: %s %s", e.ID, e.Err)
			}
			c.mu.Unlock()
		}
	})
	return c
}

// read dispatches the driver's events until its stdout ends.
func (c *clients) read(stdout io.Reader) {
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		var e event
		if err := json.Unmarshal(sc.Bytes(), &e); err != nil {
			continue
		}
		c.mu.Lock()
		switch e.Ev {
		case evReply:
			if ch := c.waiting[e.Req]; ch != nil {
				ch <- e
				delete(c.waiting, e.Req)
			}
		case evMsg:
			c.got[e.ID] = append(c.got[e.ID], received{text: e.Text, at: time.Unix(0, e.At)})
		case evClosed:
			c.ended[e.ID] = e
		case evError:
			c.errs = append(c.errs, e)
		}
		c.mu.Unlock()
	}
	c.mu.Lock()
	c.exited = true
	for req, ch := range c.waiting {
		ch <- event{Ev: evReply, Req: req, Err: "client driver exited"}
		delete(c.waiting, req)
	}
	c.mu.Unlock()
}

func (c *clients) write(o op) error {
	b, err := json.Marshal(o)
	if err != nil {
		return err
	}
	c.inMu.Lock()
	defer c.inMu.Unlock()
	_, err = c.stdin.Write(append(b, '\n'))
	return err
}

// call sends o and waits for its reply.
func (c *clients) call(ctx context.Context, o op) error {
	ch := make(chan event, 1)
	c.mu.Lock()
	if c.exited {
		c.mu.Unlock()
		return fmt.Errorf("driver: %s: client driver exited", o.Op)
	}
	c.nextReq++
	o.Req = c.nextReq
	c.waiting[o.Req] = ch
	c.mu.Unlock()
	if err := c.write(o); err != nil {
		return fmt.Errorf("driver: %s: %w", o.Op, err)
	}
	select {
	case e := <-ch:
		if e.Err != "" {
			return errors.New(e.Err)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("driver: %s: %w", o.Op, ctx.Err())
	}
}

// dial opens client id on url.
func (c *clients) dial(ctx context.Context, id, url string, timeout time.Duration) error {
	return c.call(ctx, op{Op: opDial, ID: id, URL: url, TimeoutMS: timeout.Milliseconds()})
}

// waitTCP waits until addr accepts TCP connections from the driver's host.
func (c *clients) waitTCP(ctx context.Context, addr string, timeout time.Duration) error {
	return c.call(ctx, op{Op: opWaitTCP, Addr: addr, TimeoutMS: timeout.Milliseconds()})
}

// send sends text from client id without waiting.
func (c *clients) send(id, text string) error {
	return c.write(op{Op: opSend, ID: id, Text: text})
}

// closeClient closes client id.
func (c *clients) closeClient(ctx context.Context, id string) error {
	return c.call(ctx, op{Op: opClose, ID: id})
}

// messages returns a copy of what client id received so far.
func (c *clients) messages(id string) []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.got[id]...)
}

// closed reports whether client id's connection ended, and how.
func (c *clients) closed(id string) (event, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.ended[id]
	return e, ok
}
