package netns

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// DefaultCommandTimeout bounds every ip command the package runs.
const DefaultCommandTimeout = 10 * time.Second

// ipTool runs the ip command of iproute2.
type ipTool struct {
	path string
}

// lookupIP finds the ip command.
func lookupIP() (ipTool, error) {
	path, err := exec.LookPath("ip")
	if err != nil {
		return ipTool{}, fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return ipTool{path: path}, nil
}

// cmdError is a failed ip command with what it printed on stderr.
type cmdError struct {
	args   []string
	stderr string
	err    error
}

func (e *cmdError) Error() string {
	msg := fmt.Sprintf("netns: ip %s: %v", strings.Join(e.args, " "), e.err)
	if e.stderr != "" {
		msg += ": " + e.stderr
	}
	return msg
}

func (e *cmdError) Unwrap() error { return e.err }

// isExist reports whether err is an ip command refused with EEXIST.
func isExist(err error) bool {
	var ce *cmdError
	return errors.As(err, &ce) && strings.Contains(ce.stderr, "File exists")
}

// isMissing reports whether err is an ip command that found nothing to act
// on: the namespace, route or link was already gone.
func isMissing(err error) bool {
	var ce *cmdError
	if !errors.As(err, &ce) {
		return false
	}
	for _, s := range []string{"No such file", "No such process", "Cannot find device", "does not exist"} {
		if strings.Contains(ce.stderr, s) {
			return true
		}
	}
	return false
}

// run runs ip with args, feeding it stdin (for -batch -), and returns its
// standard output.
func (ip ipTool) run(stdin string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), DefaultCommandTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, ip.path, args...)
	if stdin != "" {
		cmd.Stdin = strings.NewReader(stdin)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, &cmdError{args: args, stderr: strings.TrimSpace(stderr.String()), err: err}
	}
	return stdout.Bytes(), nil
}

// batch runs several ip commands, one a line, in namespace ns ("" for the
// root namespace) with one process.
func (ip ipTool) batch(ns string, lines ...string) error {
	args := []string{"-batch", "-"}
	if ns != "" {
		args = append([]string{"-n", ns}, args...)
	}
	_, err := ip.run(strings.Join(lines, "\n")+"\n", args...)
	return err
}

// namespaces lists the named network namespaces.
func (ip ipTool) namespaces() ([]string, error) {
	out, err := ip.run("", "-j", "netns", "list")
	if err != nil {
		return nil, err
	}
	return parseNamespaces(out)
}

// addNamespace creates namespace ns. A refusal other than EEXIST means this
// process may not create namespaces: it wraps ErrUnavailable.
func (ip ipTool) addNamespace(ns string) error {
	_, err := ip.run("", "netns", "add", ns)
	if err != nil && !isExist(err) {
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	return err
}

// deleteNamespace kills the processes left in namespace ns, then deletes
// it. A namespace already gone is not an error.
func (ip ipTool) deleteNamespace(ns string) error {
	killErr := ip.killProcesses(ns)
	if _, err := ip.run("", "netns", "del", ns); err != nil && !isMissing(err) {
		return errors.Join(killErr, err)
	}
	return killErr
}

// killProcesses sends SIGKILL to every process in namespace ns: the
// processes a test started there and did not stop.
func (ip ipTool) killProcesses(ns string) error {
	out, err := ip.run("", "netns", "pids", ns)
	if err != nil {
		if isMissing(err) {
			return nil
		}
		return err
	}
	var errs []error
	for _, f := range strings.Fields(string(out)) {
		pid, err := strconv.Atoi(f)
		if err != nil || pid <= 1 || pid == os.Getpid() {
			continue
		}
		if err := syscall.Kill(pid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
			errs = append(errs, fmt.Errorf("netns: kill %d in %s: %w", pid, ns, err))
		}
	}
	return errors.Join(errs...)
}

// usedPrefixes lists the IPv4 route destinations (every table) and
// addresses of the root namespace.
func (ip ipTool) usedPrefixes() ([]netip.Prefix, error) {
	out, err := ip.run("", "-j", "-4", "route", "show", "table", "all")
	if err != nil {
		return nil, err
	}
	used, err := parseRoutes(out)
	if err != nil {
		return nil, err
	}
	if out, err = ip.run("", "-j", "-4", "addr", "show"); err != nil {
		return nil, err
	}
	addrs, err := parseAddrs(out)
	if err != nil {
		return nil, err
	}
	return append(used, addrs...), nil
}

// addUnreachable routes subnet as unreachable in the root namespace. The
// kernel refuses a second identical route (EEXIST), which makes the route
// the claim on the subnet between concurrent runs.
func (ip ipTool) addUnreachable(subnet netip.Prefix) error {
	_, err := ip.run("", "route", "add", "unreachable", subnet.String())
	switch {
	case err == nil:
		return nil
	case isExist(err):
		return fmt.Errorf("%w: %s: %w", ErrSubnetInUse, subnet, err)
	default:
		return fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
}

// deleteUnreachable removes the unreachable route of subnet; a route
// already gone is not an error.
func (ip ipTool) deleteUnreachable(subnet string) error {
	if _, err := ip.run("", "route", "del", "unreachable", subnet); err != nil && !isMissing(err) {
		return err
	}
	return nil
}

// claimSubnet claims want, or a free /24 of AutoSubnetPool when want is
// the zero Prefix, by routing it as unreachable.
func (ip ipTool) claimSubnet(want netip.Prefix) (netip.Prefix, error) {
	used, err := ip.usedPrefixes()
	if err != nil {
		return netip.Prefix{}, err
	}
	if want.IsValid() {
		if u, ok := overlapsAny(want, used); ok {
			return netip.Prefix{}, fmt.Errorf("%w: %s overlaps %s in the root namespace", ErrSubnetInUse, want, u)
		}
		return want, ip.addUnreachable(want)
	}
	pool := netip.MustParsePrefix(AutoSubnetPool)
	for range 64 {
		p := randomSubnet(pool)
		if _, ok := overlapsAny(p, used); ok {
			continue
		}
		err := ip.addUnreachable(p)
		if err == nil {
			return p, nil
		}
		if !errors.Is(err, ErrSubnetInUse) {
			return netip.Prefix{}, err
		}
	}
	return netip.Prefix{}, fmt.Errorf("%w in %s", ErrNoFreeSubnet, AutoSubnetPool)
}
