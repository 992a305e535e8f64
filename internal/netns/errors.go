package netns

import "errors"

// Sentinel errors. Errors returned by this package wrap one of them where it
// applies, so callers test them with errors.Is.
var (
	// ErrUnavailable means this process cannot create network namespaces:
	// not root, no ip command, or the kernel refused (EPERM in a container).
	// Tests skip on it.
	ErrUnavailable = errors.New("netns: network namespaces unavailable")
	// ErrInvalidName means a network or host name is not 1 to MaxNameLen
	// lower-case letters and digits.
	ErrInvalidName = errors.New("netns: invalid name")
	// ErrInvalidSubnet means a subnet is not an IPv4 prefix inside
	// 10.0.0.0/8 of length MinPrefixLen to MaxPrefixLen.
	ErrInvalidSubnet = errors.New("netns: invalid subnet")
	// ErrSubnetInUse means the subnet overlaps a route or address of the
	// root namespace, or another live network.
	ErrSubnetInUse = errors.New("netns: subnet in use")
	// ErrNoFreeSubnet means no free /24 was found in AutoSubnetPool.
	ErrNoFreeSubnet = errors.New("netns: no free subnet")
	// ErrSubnetFull means the subnet has no address left for another host.
	ErrSubnetFull = errors.New("netns: subnet full")
	// ErrDuplicateHost means the network already has a host of that name.
	ErrDuplicateHost = errors.New("netns: duplicate host name")
	// ErrClosed means the network was closed.
	ErrClosed = errors.New("netns: network closed")
)
