package e2e

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// buildBinaries builds the gatewayworker command and the chat example.
func buildBinaries(t *testing.T) (gatewayworker, chatWorker string) {
	t.Helper()
	if testing.Short() {
		t.Skip("builds binaries; skipped with -short")
	}
	dir := t.TempDir()
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	for name, pkg := range map[string]string{"gatewayworker": "./cmd/gatewayworker", "chat": "./examples/chat"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(dir, name), pkg)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("go build %s: %v\n%s", pkg, err, out)
		}
	}
	return filepath.Join(dir, "gatewayworker"), filepath.Join(dir, "chat")
}

// freeAddrs returns n distinct loopback addresses that were free a moment
// ago: all listeners stay open until every address is picked, so the kernel
// cannot hand out the same port twice.
func freeAddrs(t *testing.T, n int) []string {
	t.Helper()
	addrs := make([]string, n)
	ls := make([]net.Listener, n)
	for i := range ls {
		ls[i] = listen(t)
		addrs[i] = ls[i].Addr().String()
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs
}

type process struct {
	cmd *exec.Cmd
	out *bytes.Buffer
}

func spawn(t *testing.T, bin string, args ...string) *process {
	t.Helper()
	p := &process{cmd: exec.Command(bin, args...), out: new(bytes.Buffer)}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	p.cmd.Env = append(os.Environ(), "GW_SECRET=split-secret")
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		_ = p.cmd.Wait()
		if t.Failed() {
			t.Logf("%s %v output:\n%s", filepath.Base(bin), args, p.out)
		}
	})
	return p
}

// terminate sends SIGTERM and waits for a clean exit.
func (p *process) terminate(t *testing.T) {
	t.Helper()
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- p.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("%v exited with %v:\n%s", p.cmd.Args, err, p.out)
		}
	case <-time.After(waitFor):
		t.Errorf("%v did not exit on SIGTERM", p.cmd.Args)
	}
}

func waitTCP(t *testing.T, addr string) {
	t.Helper()
	eventually(t, "listener "+addr, func() bool {
		c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
		if err == nil {
			c.Close()
		}
		return err == nil
	})
}

// TestE2ESplitProcesses runs each role as its own process, started with the
// documented flags, as on separate hosts.
func TestE2ESplitProcesses(t *testing.T) {
	bin, chatBin := buildBinaries(t)
	ports := freeAddrs(t, 3)
	regAddr, wsAddr, lanAddr := ports[0], ports[1], ports[2]

	spawn(t, bin, "register", "--listen", regAddr, "--max-leader-ttl", "1s") // the tick is leader-only: lease granted after 1 s
	waitTCP(t, regAddr)
	gw := spawn(t, bin, "gateway", "--listen", wsAddr, "--lan", lanAddr, "--register", regAddr)
	waitTCP(t, wsAddr)
	spawn(t, chatBin, "--register", regAddr, "--tick", "300ms")
	spawn(t, chatBin, "--register", regAddr, "--tick", "300ms")

	ctx, cancel := context.WithTimeout(context.Background(), waitFor)
	defer cancel()
	// Until a worker is linked, a message has nowhere to go: retry.
	var a *client
	for a == nil {
		c := dial(t, "ws://"+wsAddr+"/")
		c.send("ping?")
		deadline := time.After(time.Second)
	wait:
		for {
			select {
			case m := <-c.in:
				if m.data == "ping?" {
					a = c
					break wait
				}
			case <-deadline:
				c.conn.Close()
				break wait
			case <-ctx.Done():
				t.Fatal("no worker answered within the deadline")
			}
		}
	}
	b := dial(t, "ws://"+wsAddr+"/")
	b.send("from b")
	got := map[string]bool{}
	for !got["from b"] {
		m := a.next()
		if _, err := strconv.Atoi(m.data); err != nil {
			got[m.data] = true
		}
	}
	// The tick arrives: decimal Unix seconds.
	for {
		m := b.next()
		if sec, err := strconv.ParseInt(m.data, 10, 64); err == nil {
			if d := time.Since(time.Unix(sec, 0)); d > 5*time.Second || d < -5*time.Second {
				t.Fatalf("tick %d far from now", sec)
			}
			break
		}
	}
	// SIGTERM on the gateway: clients are closed with 1001 Going Away.
	gw.terminate(t)
	for _, c := range []*client{a, b} {
		if code := c.closeCode(); code != websocket.CloseGoingAway {
			t.Fatalf("close code %d, want 1001", code)
		}
	}
}
