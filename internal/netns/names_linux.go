package netns

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strings"
)

// Naming and addressing limits.
const (
	// Prefix starts the name of every namespace this package creates:
	// Prefix + network name + "-" + random id for the switch, and that
	// plus "-" + host name for each host.
	Prefix = "gwns-"
	// MaxNameLen is the longest network or host name.
	MaxNameLen = 10
	// AutoSubnetPool is where New picks a free /24 when given no subnet.
	AutoSubnetPool = "10.200.0.0/13"
	// MinPrefixLen and MaxPrefixLen bound the length of a subnet given to
	// New (a /29 holds 6 hosts).
	MinPrefixLen = 16
	MaxPrefixLen = 29
)

// Interface names; all are far below the kernel's 15-byte limit. Ports on
// the bridge are "p1", "p2", ... in the switch namespace.
const (
	bridgeIf = "br0"
	hostIf   = "eth0"
)

// privateNet is the only range subnets may come from.
var privateNet = netip.MustParsePrefix("10.0.0.0/8")

// validName reports whether s is 1 to MaxNameLen lower-case letters and
// digits: safe in namespace names, with no "-" so that ids parse back.
func validName(s string) bool {
	if s == "" || len(s) > MaxNameLen {
		return false
	}
	for _, c := range s {
		if (c < 'a' || c > 'z') && (c < '0' || c > '9') {
			return false
		}
	}
	return true
}

// newID returns the random id of a new network named name.
func newID(name string) string {
	return fmt.Sprintf("%s-%06x", name, rand.Uint32()&0xffffff)
}

// idOfNamespace returns the network id of a namespace this package made
// (Prefix + id [+ "-" + host]).
func idOfNamespace(ns string) (string, bool) {
	rest, ok := strings.CutPrefix(ns, Prefix)
	if !ok {
		return "", false
	}
	parts := strings.Split(rest, "-")
	if len(parts) < 2 || parts[0] == "" || parts[1] == "" {
		return "", false
	}
	return parts[0] + "-" + parts[1], true
}

// parseSubnet validates a subnet given to New.
func parseSubnet(s string) (netip.Prefix, error) {
	p, err := netip.ParsePrefix(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("%w: %q: %w", ErrInvalidSubnet, s, err)
	}
	if p != p.Masked() {
		return netip.Prefix{}, fmt.Errorf("%w: %q has host bits set", ErrInvalidSubnet, s)
	}
	if !p.Addr().Is4() || !privateNet.Contains(p.Addr()) || p.Bits() < MinPrefixLen || p.Bits() > MaxPrefixLen {
		return netip.Prefix{}, fmt.Errorf("%w: %q: want an IPv4 prefix inside %s, /%d to /%d", ErrInvalidSubnet, s, privateNet, MinPrefixLen, MaxPrefixLen)
	}
	return p, nil
}

// hostAddr returns the address of the i-th host (from 1) of subnet, or
// false when the subnet has no such address (the broadcast address is
// never given out).
func hostAddr(subnet netip.Prefix, i int) (netip.Addr, bool) {
	size := 1 << (32 - subnet.Bits())
	if i < 1 || i >= size-1 {
		return netip.Addr{}, false
	}
	return addAddr(subnet.Addr(), uint32(i)), true
}

// randomSubnet returns a random /24 of pool.
func randomSubnet(pool netip.Prefix) netip.Prefix {
	return nthSubnet(pool, rand.IntN(1<<(24-pool.Bits())))
}

// nthSubnet returns the k-th /24 of pool.
func nthSubnet(pool netip.Prefix, k int) netip.Prefix {
	return netip.PrefixFrom(addAddr(pool.Addr(), uint32(k)<<8), 24)
}

// addAddr returns a + n.
func addAddr(a netip.Addr, n uint32) netip.Addr {
	b := a.As4()
	v := uint32(b[0])<<24 | uint32(b[1])<<16 | uint32(b[2])<<8 | uint32(b[3])
	v += n
	return netip.AddrFrom4([4]byte{byte(v >> 24), byte(v >> 16), byte(v >> 8), byte(v)})
}

// overlapsAny reports whether p overlaps one of used.
func overlapsAny(p netip.Prefix, used []netip.Prefix) (netip.Prefix, bool) {
	for _, u := range used {
		if u.Overlaps(p) {
			return u, true
		}
	}
	return netip.Prefix{}, false
}

// parseRoutes decodes `ip -j -4 route show table all` into the prefixes of
// its destinations, leaving out default routes.
func parseRoutes(out []byte) ([]netip.Prefix, error) {
	var routes []struct {
		Dst string `json:"dst"`
	}
	if err := decodeJSON(out, &routes); err != nil {
		return nil, fmt.Errorf("netns: routes: %w", err)
	}
	var ps []netip.Prefix
	for _, r := range routes {
		if p, ok := prefixOf(r.Dst); ok && p.Bits() > 0 {
			ps = append(ps, p)
		}
	}
	return ps, nil
}

// parseAddrs decodes `ip -j -4 addr show` into the prefixes of its
// addresses.
func parseAddrs(out []byte) ([]netip.Prefix, error) {
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := decodeJSON(out, &links); err != nil {
		return nil, fmt.Errorf("netns: addresses: %w", err)
	}
	var ps []netip.Prefix
	for _, l := range links {
		for _, a := range l.AddrInfo {
			addr, err := netip.ParseAddr(a.Local)
			if err != nil || !addr.Is4() {
				continue
			}
			if p, err := addr.Prefix(a.PrefixLen); err == nil {
				ps = append(ps, p)
			}
		}
	}
	return ps, nil
}

// parseNamespaces decodes `ip -j netns list`.
func parseNamespaces(out []byte) ([]string, error) {
	var list []struct {
		Name string `json:"name"`
	}
	if err := decodeJSON(out, &list); err != nil {
		return nil, fmt.Errorf("netns: namespaces: %w", err)
	}
	names := make([]string, 0, len(list))
	for _, l := range list {
		if l.Name != "" {
			names = append(names, l.Name)
		}
	}
	return names, nil
}

// decodeJSON decodes ip's JSON output; ip prints nothing at all for an
// empty list.
func decodeJSON(out []byte, v any) error {
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil
	}
	return json.Unmarshal(out, v)
}

// prefixOf parses a route destination: "10.0.0.0/8", "10.0.0.1" or
// "default".
func prefixOf(dst string) (netip.Prefix, bool) {
	if dst == "" || dst == "default" {
		return netip.Prefix{}, false
	}
	if strings.Contains(dst, "/") {
		p, err := netip.ParsePrefix(dst)
		return p.Masked(), err == nil && p.Addr().Is4()
	}
	a, err := netip.ParseAddr(dst)
	if err != nil || !a.Is4() {
		return netip.Prefix{}, false
	}
	return netip.PrefixFrom(a, 32), true
}
