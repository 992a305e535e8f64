// Package clientaddr finds the real client's address behind trusted HTTP
// proxies, from X-Forwarded-For.
package clientaddr

import (
	"fmt"
	"net/netip"
	"strings"
)

// Trusted is a set of proxy networks whose X-Forwarded-For is believed.
type Trusted []netip.Prefix

// ParseTrusted parses CIDRs ("10.0.0.0/8", "2001:db8::/32") or single
// addresses ("192.0.2.10", a /32 or /128).
func ParseTrusted(list []string) (Trusted, error) {
	var t Trusted
	for _, s := range list {
		s = strings.TrimSpace(s)
		if s == "" {
			continue
		}
		if !strings.Contains(s, "/") {
			a, err := netip.ParseAddr(s)
			if err != nil {
				return nil, fmt.Errorf("clientaddr: trusted proxy %q: %w", s, err)
			}
			a = a.Unmap()
			t = append(t, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("clientaddr: trusted proxy %q: %w", s, err)
		}
		if p.Addr().Is4In6() {
			p = netip.PrefixFrom(p.Addr().Unmap(), max(0, p.Bits()-96))
		}
		t = append(t, p.Masked())
	}
	return t, nil
}

// Contains reports whether addr is in one of the trusted networks.
func (t Trusted) Contains(addr netip.Addr) bool {
	addr = addr.Unmap().WithZone("")
	for _, p := range t {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// FromForwarded returns the client address that peer, a connection's
// remote address, stands for: walking the X-Forwarded-For values (every
// header, in order, split at commas) from the right, each hop that is a
// trusted proxy hands over to the address it received from; the first
// address that is not trusted is the client. A malformed entry stops the
// walk at the last trusted hop (it could be forged). A peer that is not
// trusted is the client itself, whatever the headers say.
func (t Trusted) FromForwarded(peer netip.Addr, xff []string) netip.Addr {
	client := peer.Unmap()
	if !t.Contains(client) {
		return client
	}
	for i := len(xff) - 1; i >= 0; i-- {
		hops := strings.Split(xff[i], ",")
		for j := len(hops) - 1; j >= 0; j-- {
			h := strings.TrimSpace(hops[j])
			if h == "" {
				continue
			}
			a, err := parseHop(h)
			if err != nil {
				return client
			}
			client = a
			if !t.Contains(a) {
				return client
			}
		}
	}
	return client
}

// parseHop parses one X-Forwarded-For entry: an address, possibly with a
// port ("192.0.2.1:1234", "[2001:db8::1]:80") or in brackets.
func parseHop(s string) (netip.Addr, error) {
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return ap.Addr().Unmap(), nil
	}
	a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(s, "["), "]"))
	if err != nil {
		return netip.Addr{}, err
	}
	return a.Unmap().WithZone(""), nil
}
