//go:build linux

package netns

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

const echoPort = "7000"

// newNetwork skips unless namespaces are available and returns a network
// that goes away with the test.
func newNetwork(t *testing.T, hosts ...string) (*Network, []*Host) {
	t.Helper()
	SkipUnlessAvailable(t)
	n, err := New(t, "nt", "")
	if err != nil {
		t.Fatal(err)
	}
	hs := make([]*Host, len(hosts))
	for i, name := range hosts {
		if hs[i], err = n.AddHost(name); err != nil {
			t.Fatal(err)
		}
	}
	return n, hs
}

// helper is the test binary running a helper mode on a host.
type helper struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
	lines chan string // stdout, closed at EOF
	done  chan error  // the result of Wait
}

func startHelper(t *testing.T, h *Host, mode string, args ...string) *helper {
	t.Helper()
	cmd := h.Command(t.Context(), os.Args[0], args...)
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
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
	p := &helper{cmd: cmd, stdin: stdin, lines: make(chan string, 16), done: make(chan error, 1)}
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			p.lines <- sc.Text()
		}
		close(p.lines)
		p.done <- cmd.Wait()
	}()
	t.Cleanup(func() { p.stop(t) })
	return p
}

// waitLine waits for a stdout line starting with prefix.
func (p *helper) waitLine(t *testing.T, prefix string) {
	t.Helper()
	deadline := time.After(10 * time.Second)
	for {
		select {
		case line, ok := <-p.lines:
			if !ok {
				t.Fatalf("helper %v exited before printing %q", p.cmd.Args, prefix)
			}
			if strings.HasPrefix(line, prefix) {
				return
			}
		case <-deadline:
			t.Fatalf("helper %v did not print %q within 10s", p.cmd.Args, prefix)
		}
	}
}

// stop closes the helper's stdin and waits for it, killing it after a
// deadline. It may be called more than once.
func (p *helper) stop(t *testing.T) {
	p.stdin.Close()
	select {
	case err := <-p.done:
		p.done <- err
	case <-time.After(5 * time.Second):
		p.cmd.Process.Kill()
		t.Errorf("helper %v did not exit when its stdin closed", p.cmd.Args)
		p.done <- <-p.done
	}
}

// startEcho runs an echo server on h and waits until it listens.
func startEcho(t *testing.T, h *Host) string {
	t.Helper()
	addr := net.JoinHostPort(h.IP, echoPort)
	startHelper(t, h, "echo", addr).waitLine(t, "listening")
	return addr
}

// dialFrom connects from host h to addr and exchanges a line.
func dialFrom(t *testing.T, h *Host, addr string, timeout time.Duration) dialResult {
	t.Helper()
	cmd := h.Command(t.Context(), os.Args[0], addr, timeout.String())
	cmd.Env = append(os.Environ(), helperEnv+"=dial")
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("dial helper: %v", err)
	}
	var r dialResult
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("dial helper printed %q: %v", out, err)
	}
	return r
}

func TestHostsReachEachOther(t *testing.T) {
	_, hs := newNetwork(t, "a", "b")
	a, b := hs[0], hs[1]
	if a.IP == b.IP {
		t.Fatalf("hosts share address %s", a.IP)
	}
	for _, pair := range [][2]*Host{{a, b}, {b, a}} {
		from, to := pair[0], pair[1]
		addr := startEcho(t, to)
		r := dialFrom(t, from, addr, 5*time.Second)
		if !r.OK || r.Echo != "hello\n" {
			t.Fatalf("%s -> %s: %+v", from.Name, addr, r)
		}
	}
}

func TestRootNamespaceCannotReachSubnet(t *testing.T) {
	_, hs := newNetwork(t, "a")
	addr := startEcho(t, hs[0])

	start := time.Now()
	c, err := net.DialTimeout("tcp", addr, 3*time.Second)
	if err == nil {
		c.Close()
		t.Fatalf("root namespace reached %s", addr)
	}
	if !errors.Is(err, syscall.EHOSTUNREACH) {
		t.Errorf("dial %s from the root namespace: %v, want EHOSTUNREACH", addr, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("dial failed after %v, want at once", d)
	}
}

func TestHostHasNoRouteOut(t *testing.T) {
	_, hs := newNetwork(t, "a")
	// ip route get asks the host's routing table and sends nothing.
	out, err := hs[0].Command(t.Context(), "ip", "route", "get", "198.51.100.1").CombinedOutput()
	if err == nil || !strings.Contains(string(out), "unreachable") {
		t.Fatalf("route from host to 198.51.100.1: err %v, output %q; want network unreachable", err, out)
	}
	out, err = hs[0].Command(t.Context(), "ip", "-4", "route", "show").Output()
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "default") {
		t.Fatalf("host has a default route:\n%s", out)
	}
}

func TestCutStopsTrafficAndHealRestoresIt(t *testing.T) {
	_, hs := newNetwork(t, "a", "b")
	a, b := hs[0], hs[1]
	addr := startEcho(t, a)
	if r := dialFrom(t, b, addr, 5*time.Second); !r.OK {
		t.Fatalf("before cut: %+v", r)
	}

	if err := a.Cut(); err != nil {
		t.Fatal(err)
	}
	if r := dialFrom(t, b, addr, 500*time.Millisecond); r.OK {
		t.Fatalf("dial through a cut link succeeded: %+v", r)
	}

	if err := a.Heal(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		r := dialFrom(t, b, addr, time.Second)
		if r.OK {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after heal: %+v", r)
		}
	}
}

func TestCloseLeavesNothingBehind(t *testing.T) {
	n, hs := newNetwork(t, "a", "b")
	sleeper := startHelper(t, hs[0], "sleep")
	sleeper.waitLine(t, "ready")

	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-sleeper.done:
		sleeper.done <- nil
	case <-time.After(5 * time.Second):
		t.Fatal("a process left on a host outlived Close")
	}
	assertGone(t, n.Name(), n.Subnet())

	if err := n.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := n.AddHost("c"); !errors.Is(err, ErrClosed) {
		t.Errorf("AddHost after Close: %v, want ErrClosed", err)
	}
	if err := hs[1].Cut(); !errors.Is(err, ErrClosed) {
		t.Errorf("Cut after Close: %v, want ErrClosed", err)
	}
}

// assertGone checks that no namespace, route or lock file of network id
// is left.
func assertGone(t *testing.T, id, subnet string) {
	t.Helper()
	ip, err := lookupIP()
	if err != nil {
		t.Fatal(err)
	}
	names, err := ip.namespaces()
	if err != nil {
		t.Fatal(err)
	}
	for _, ns := range names {
		if got, _ := idOfNamespace(ns); got == id {
			t.Errorf("namespace %s left behind", ns)
		}
	}
	out, err := ip.run("", "-4", "route", "show", "table", "all")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), subnet) {
		t.Errorf("route for %s left behind:\n%s", subnet, out)
	}
	if _, err := os.Stat(filepath.Join(LockDir, id+".lock")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("lock file of %s left behind: %v", id, err)
	}
}

func TestNewRemovesWhatAKilledRunLeft(t *testing.T) {
	SkipUnlessAvailable(t)
	ip, err := lookupIP()
	if err != nil {
		t.Fatal(err)
	}
	// A run killed with its network up: a lock file nobody holds, its
	// namespaces, its route, and a process still running on a host.
	l, id, err := acquireLease(LockDir, "dead")
	if err != nil {
		t.Fatal(err)
	}
	subnet, err := ip.claimSubnet(netipZero)
	if err != nil {
		l.release()
		t.Fatal(err)
	}
	l.record(leaseRecord{Subnet: subnet.String()})
	l.f.Close() // the owner dies: the lock drops, the file stays
	sw, hostNS := Prefix+id, Prefix+id+"-h"
	t.Cleanup(func() { // in case the sweep below fails
		ip.deleteNamespace(hostNS)
		ip.deleteNamespace(sw)
		ip.deleteUnreachable(subnet.String())
		os.Remove(filepath.Join(LockDir, id+".lock"))
	})
	for _, ns := range []string{sw, hostNS} {
		if err := ip.addNamespace(ns); err != nil {
			t.Fatal(err)
		}
	}
	orphan := exec.Command(ip.path, "netns", "exec", hostNS, os.Args[0])
	orphan.Env = append(os.Environ(), helperEnv+"=sleep")
	orphanIn, err := orphan.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer orphanIn.Close()
	if err := orphan.Start(); err != nil {
		t.Fatal(err)
	}
	waited := make(chan error, 1)
	go func() { waited <- orphan.Wait() }()

	if _, err := New(t, "nt", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-waited:
		if err == nil {
			t.Errorf("orphan exited cleanly; want killed")
		}
	case <-time.After(5 * time.Second):
		orphan.Process.Kill()
		<-waited
		t.Errorf("process on a stale host survived the sweep")
	}
	assertGone(t, id, subnet.String())
}

func TestLiveNetworkIsNotSwept(t *testing.T) {
	a, hs := newNetwork(t, "a")
	if _, err := New(t, "nt", ""); err != nil { // sweeps
		t.Fatal(err)
	}
	out, err := hs[0].Command(t.Context(), "ip", "-br", "addr", "show", hostIf).Output()
	if err != nil || !strings.Contains(string(out), hs[0].IP) {
		t.Fatalf("host of live network %s after another New: %v %q", a.Name(), err, out)
	}
}

func TestSubnets(t *testing.T) {
	a, _ := newNetwork(t)
	if _, err := New(t, "nt", a.Subnet()); !errors.Is(err, ErrSubnetInUse) {
		t.Errorf("New on the subnet of a live network: %v, want ErrSubnetInUse", err)
	}

	ip, err := lookupIP()
	if err != nil {
		t.Fatal(err)
	}
	free, err := ip.claimSubnet(netipZero)
	if err != nil {
		t.Fatal(err)
	}
	ip.deleteUnreachable(free.String())
	small := free.Addr().String() + "/29"
	n, err := New(t, "nt", small)
	if err != nil {
		t.Fatal(err)
	}
	if n.Subnet() != small {
		t.Fatalf("Subnet() = %s, want %s", n.Subnet(), small)
	}
	names := []string{"h1", "h2", "h3", "h4", "h5", "h6"}
	for i, name := range names {
		h, err := n.AddHost(name)
		if err != nil {
			t.Fatal(err)
		}
		if want, _ := hostAddr(free, i+1); h.IP != want.String() {
			t.Errorf("host %d has %s, want %s", i+1, h.IP, want)
		}
	}
	if _, err := n.AddHost("h7"); !errors.Is(err, ErrSubnetFull) {
		t.Errorf("7th host on a /29: %v, want ErrSubnetFull", err)
	}
	if _, err := n.AddHost("h1"); !errors.Is(err, ErrDuplicateHost) {
		t.Errorf("duplicate host: %v, want ErrDuplicateHost", err)
	}
	if _, err := n.AddHost("H-1"); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad host name: %v, want ErrInvalidName", err)
	}
}

func TestCommandContextKillsProcess(t *testing.T) {
	_, hs := newNetwork(t, "a")
	ctx, cancel := context.WithCancel(t.Context())
	cmd := hs[0].Command(ctx, os.Args[0])
	cmd.Env = append(os.Environ(), helperEnv+"=sleep")
	stdin, err := cmd.StdinPipe() // never closed: only the context ends it
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("process exited cleanly; want killed by the context")
		}
	case <-time.After(5 * time.Second):
		cmd.Process.Kill()
		<-done
		t.Fatal("cancelling the context did not kill the process")
	}
}

func TestAvailable(t *testing.T) {
	err := Available()
	if os.Geteuid() != 0 {
		if !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Available() as non-root = %v, want ErrUnavailable", err)
		}
		return
	}
	if err != nil && !errors.Is(err, ErrUnavailable) {
		t.Fatalf("Available() = %v, want nil or ErrUnavailable", err)
	}
	ip, lerr := lookupIP()
	if lerr != nil {
		return
	}
	names, _ := ip.namespaces()
	for _, ns := range names {
		if strings.HasPrefix(ns, Prefix+"probe-") {
			if id, _ := idOfNamespace(ns); id != "" {
				if _, err := os.Stat(filepath.Join(LockDir, id+".lock")); err != nil {
					t.Errorf("probe namespace %s left without an owner", ns)
				}
			}
		}
	}
}

// BenchmarkAddHost measures what a host costs to set up: a namespace, a
// veth pair on the bridge, an address.
func BenchmarkAddHost(b *testing.B) {
	b.ReportAllocs()
	SkipUnlessAvailable(b)
	var n *Network
	for i := range b.N {
		if i%200 == 0 { // a /24 holds 253 hosts
			b.StopTimer()
			if n != nil {
				if err := n.Close(); err != nil {
					b.Fatal(err)
				}
			}
			var err error
			if n, err = New(b, "nb", ""); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
		}
		if _, err := n.AddHost(fmt.Sprintf("h%d", i)); err != nil {
			b.Fatal(err)
		}
	}
}
