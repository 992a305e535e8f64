// Package netns builds small virtual networks out of Linux network
// namespaces for multi-host tests.
//
// A Network is a switch: a Linux bridge in a namespace of its own. Each Host
// is another namespace with one interface, eth0, whose peer is a port of the
// bridge, and one address in the network's subnet. Processes run on a host
// through Host.Command ("ip netns exec"); Host.Cut unplugs the host's cable
// at the switch and Host.Heal plugs it back.
//
// Nothing leaves the namespaces: the hosts have no default route, the switch
// has no address, and New routes the whole subnet as unreachable in the root
// namespace, so a packet for the subnet sent from outside fails at once
// (EHOSTUNREACH) instead of following the default route.
//
// Every namespace name starts with Prefix and carries a random id, so runs
// never collide. A run holds a lock file under LockDir for as long as its
// network lives; New removes the namespaces, routes and lock files that a
// killed earlier run left behind (their lock is no longer held) and kills
// the processes still running in them.
//
// The package needs root (CAP_SYS_ADMIN and CAP_NET_ADMIN) and the ip
// command of iproute2. Where either is missing, New and Available return an
// error wrapping ErrUnavailable, and tests should skip (SkipUnlessAvailable).
// It only builds on Linux; elsewhere Available reports ErrUnavailable.
package netns
