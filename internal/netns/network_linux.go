package netns

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
)

// Network is a virtual LAN: a bridge in a namespace of its own (the
// switch), a subnet routed as unreachable in the root namespace, and the
// hosts plugged into the bridge. Its methods are safe for concurrent use.
type Network struct {
	id     string // name-random, in every namespace name
	name   string
	subnet netip.Prefix
	ip     ipTool
	tb     testing.TB // for logs; may be nil

	mu       sync.Mutex
	lease    *lease // nil once released
	routed   bool   // the unreachable route is ours to remove
	switchNS string // "" until created
	hosts    []*Host
	closed   bool
}

// New creates an empty network named name (1 to MaxNameLen lower-case
// letters and digits) on subnet, an IPv4 prefix inside 10.0.0.0/8 that
// nothing on this machine uses; "" picks a free /24 of AutoSubnetPool.
//
// Before creating anything New removes what killed earlier runs left
// behind (see the package comment). When t is not nil, New logs with
// t.Logf and registers Close with t.Cleanup, so the network goes away even
// when the test fails; a Close error then fails the test.
//
// An error wrapping ErrUnavailable means this process cannot create
// namespaces; a test should skip on it.
func New(t testing.TB, name, subnet string) (*Network, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: network %q: want 1 to %d of [a-z0-9]", ErrInvalidName, name, MaxNameLen)
	}
	var want netip.Prefix
	if subnet != "" {
		p, err := parseSubnet(subnet)
		if err != nil {
			return nil, err
		}
		want = p
	}
	if euid := os.Geteuid(); euid != 0 {
		return nil, fmt.Errorf("%w: not root (euid %d)", ErrUnavailable, euid)
	}
	ip, err := lookupIP()
	if err != nil {
		return nil, err
	}
	n := &Network{name: name, ip: ip, tb: t}
	removed, errs := sweepStale(ip, LockDir)
	if len(removed) > 0 {
		n.logf("removed what an earlier run left: %s", strings.Join(removed, ", "))
	}
	if len(errs) > 0 {
		n.logf("removing what an earlier run left: %v", errors.Join(errs...))
	}

	l, id, err := acquireLease(LockDir, name)
	if err != nil {
		return nil, err
	}
	n.lease, n.id = l, id
	if t != nil {
		t.Cleanup(func() {
			if err := n.Close(); err != nil {
				t.Errorf("netns: close network %s: %v", n.id, err)
			}
		})
	}
	if err := n.create(want); err != nil {
		return nil, errors.Join(err, n.Close())
	}
	n.logf("network %s on %s", n.id, n.subnet)
	return n, nil
}

// create makes the switch and claims the subnet.
func (n *Network) create(want netip.Prefix) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	ns := Prefix + n.id
	// The switch first: it is the first thing that needs privileges, so a
	// refusal here is reported as ErrUnavailable.
	if err := n.ip.addNamespace(ns); err != nil {
		return err
	}
	n.switchNS = ns
	if err := n.ip.batch(ns,
		"link set lo up",
		"link add "+bridgeIf+" type bridge",
		"link set "+bridgeIf+" up",
	); err != nil {
		return fmt.Errorf("%w: bridge: %w", ErrUnavailable, err)
	}
	subnet, err := n.ip.claimSubnet(want)
	if err != nil {
		return err
	}
	n.subnet, n.routed = subnet, true
	return n.lease.record(leaseRecord{Subnet: subnet.String()})
}

// Name returns the network's unique name: the name given to New and a
// random suffix.
func (n *Network) Name() string { return n.id }

// Subnet returns the network's subnet, such as "10.203.17.0/24".
func (n *Network) Subnet() string { return n.subnet.String() }

// AddHost creates a host named name (1 to MaxNameLen lower-case letters
// and digits, unique in the network): a namespace with lo up and eth0
// plugged into the switch, with the next free address of the subnet
// (hosts get .1, .2, ... in the order they are added).
func (n *Network) AddHost(name string) (*Host, error) {
	if !validName(name) {
		return nil, fmt.Errorf("%w: host %q: want 1 to %d of [a-z0-9]", ErrInvalidName, name, MaxNameLen)
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, ErrClosed
	}
	if slices.ContainsFunc(n.hosts, func(h *Host) bool { return h.Name == name }) {
		return nil, fmt.Errorf("%w: %q", ErrDuplicateHost, name)
	}
	idx := len(n.hosts) + 1
	addr, ok := hostAddr(n.subnet, idx)
	if !ok {
		return nil, fmt.Errorf("%w: %s has no address for host %d", ErrSubnetFull, n.subnet, idx)
	}
	h := &Host{
		Name: name,
		IP:   addr.String(),
		ns:   Prefix + n.id + "-" + name,
		port: fmt.Sprintf("p%d", idx),
		net:  n,
	}
	if err := n.ip.addNamespace(h.ns); err != nil {
		return nil, err
	}
	n.hosts = append(n.hosts, h) // from here on, Close removes it
	if err := n.ip.batch(n.switchNS,
		"link add "+h.port+" type veth peer name "+hostIf+" netns "+h.ns,
		"link set "+h.port+" master "+bridgeIf,
		"link set "+h.port+" up",
	); err != nil {
		return nil, fmt.Errorf("netns: host %s: %w", name, err)
	}
	if err := n.ip.batch(h.ns,
		"link set lo up",
		fmt.Sprintf("addr add %s/%d dev %s", h.IP, n.subnet.Bits(), hostIf),
		"link set "+hostIf+" up",
	); err != nil {
		return nil, fmt.Errorf("netns: host %s: %w", name, err)
	}
	return h, nil
}

// Close kills the processes still running on the hosts, deletes the hosts,
// the switch and the subnet's unreachable route, and releases the lock
// file. It is idempotent: later calls return nil.
func (n *Network) Close() error {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil
	}
	n.closed = true
	var errs []error
	for _, h := range slices.Backward(n.hosts) {
		if err := n.ip.deleteNamespace(h.ns); err != nil {
			errs = append(errs, err)
		}
	}
	if n.switchNS != "" {
		if err := n.ip.deleteNamespace(n.switchNS); err != nil {
			errs = append(errs, err)
		}
	}
	if n.routed {
		if err := n.ip.deleteUnreachable(n.subnet.String()); err != nil {
			errs = append(errs, err)
		}
	}
	// The lock file goes last: while it exists, no other run takes what
	// is left for stale.
	if n.lease != nil && len(errs) == 0 {
		if err := n.lease.release(); err != nil {
			errs = append(errs, err)
		}
		n.lease = nil
	} else if n.lease != nil {
		// Keep the file so that the next run's sweep retries what failed;
		// closing it drops the lock and marks it stale.
		errs = append(errs, n.lease.f.Close())
		n.lease = nil
	}
	return errors.Join(errs...)
}

func (n *Network) logf(format string, args ...any) {
	if n.tb != nil {
		n.tb.Helper()
		n.tb.Logf("netns: "+format, args...)
	}
}
