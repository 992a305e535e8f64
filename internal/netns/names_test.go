//go:build linux

package netns

import (
	"errors"
	"net/netip"
	"testing"
)

var netipZero netip.Prefix

func TestValidName(t *testing.T) {
	for _, s := range []string{"a", "r1", "abcdefghij", "0"} {
		if !validName(s) {
			t.Errorf("validName(%q) = false", s)
		}
	}
	for _, s := range []string{"", "abcdefghijk", "A", "a-b", "a_b", "a b", "é"} {
		if validName(s) {
			t.Errorf("validName(%q) = true", s)
		}
	}
}

func TestNewRefusesBadArgumentsFirst(t *testing.T) {
	// Checked before anything needs privileges: runs as any user.
	if _, err := New(nil, "Bad-Name", ""); !errors.Is(err, ErrInvalidName) {
		t.Errorf("bad name: %v", err)
	}
	for _, s := range []string{"192.168.1.0/24", "10.1.2.0/30", "10.1.0.0/15", "10.1.2.3/24", "fd00::/64", "nonsense"} {
		if _, err := New(nil, "ok", s); !errors.Is(err, ErrInvalidSubnet) {
			t.Errorf("subnet %q: %v, want ErrInvalidSubnet", s, err)
		}
	}
}

func TestIDOfNamespace(t *testing.T) {
	for ns, want := range map[string]string{
		"gwns-mh-0a1b2c":    "mh-0a1b2c",
		"gwns-mh-0a1b2c-r1": "mh-0a1b2c",
		"gwns-x":            "",
		"gwns--abc":         "",
		"other-mh-0a1b2c":   "",
	} {
		got, ok := idOfNamespace(ns)
		if got != want || ok != (want != "") {
			t.Errorf("idOfNamespace(%q) = %q, %v; want %q", ns, got, ok, want)
		}
	}
	id := newID("mh")
	if got, ok := idOfNamespace(Prefix + id + "-g1"); !ok || got != id {
		t.Errorf("newID %q does not parse back: %q", id, got)
	}
}

func TestHostAddr(t *testing.T) {
	p := netip.MustParsePrefix("10.9.8.0/29")
	for i, want := range map[int]string{1: "10.9.8.1", 6: "10.9.8.6"} {
		if got, ok := hostAddr(p, i); !ok || got.String() != want {
			t.Errorf("hostAddr(%d) = %v, %v; want %s", i, got, ok, want)
		}
	}
	for _, i := range []int{0, 7, 8} {
		if got, ok := hostAddr(p, i); ok {
			t.Errorf("hostAddr(%d) = %v; want none", i, got)
		}
	}
	if got, _ := hostAddr(netip.MustParsePrefix("10.9.0.0/16"), 300); got.String() != "10.9.1.44" {
		t.Errorf("hostAddr across octets = %v", got)
	}
}

func TestRandomSubnetStaysInPool(t *testing.T) {
	pool := netip.MustParsePrefix(AutoSubnetPool)
	for range 1000 {
		p := randomSubnet(pool)
		if p.Bits() != 24 || !pool.Contains(p.Addr()) || p != p.Masked() {
			t.Fatalf("randomSubnet = %v, outside %v", p, pool)
		}
	}
	if got := nthSubnet(pool, 2047); got.String() != "10.207.255.0/24" {
		t.Errorf("last /24 of the pool = %v", got)
	}
}

func TestParseRootState(t *testing.T) {
	routes := []byte(`[{"dst":"default","gateway":"192.0.2.1","dev":"eth0"},
		{"dst":"192.0.2.0/24","dev":"eth0"},{"type":"local","dst":"127.0.0.1","dev":"lo","table":"local"},
		{"type":"unreachable","dst":"10.200.3.0/24"}]`)
	ps, err := parseRoutes(routes)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.0/24", "127.0.0.1/32", "10.200.3.0/24"}
	if len(ps) != len(want) {
		t.Fatalf("parseRoutes = %v, want %v", ps, want)
	}
	for i := range want {
		if ps[i].String() != want[i] {
			t.Errorf("route %d = %v, want %s", i, ps[i], want[i])
		}
	}
	if _, ok := overlapsAny(netip.MustParsePrefix("10.200.3.0/24"), ps); !ok {
		t.Error("a claimed subnet does not count as used")
	}
	if _, ok := overlapsAny(netip.MustParsePrefix("10.200.4.0/24"), ps); ok {
		t.Error("a free subnet counts as used")
	}

	addrs, err := parseAddrs([]byte(`[{"ifname":"eth0","addr_info":[{"local":"10.1.2.3","prefixlen":16},{"local":"fd00::2","prefixlen":64}]}]`))
	if err != nil || len(addrs) != 1 || addrs[0].String() != "10.1.0.0/16" {
		t.Errorf("parseAddrs = %v, %v", addrs, err)
	}
	if ns, err := parseNamespaces(nil); err != nil || len(ns) != 0 {
		t.Errorf("parseNamespaces(empty) = %v, %v", ns, err)
	}
	if ns, err := parseNamespaces([]byte(`[{"name":"a","id":0},{"name":"b"}]`)); err != nil || len(ns) != 2 {
		t.Errorf("parseNamespaces = %v, %v", ns, err)
	}
	if _, err := parseRoutes([]byte("{")); err == nil {
		t.Error("parseRoutes accepted bad JSON")
	}
}

func FuzzParseRoutes(f *testing.F) {
	f.Add([]byte(`[{"dst":"default"},{"dst":"10.0.0.0/8"},{"dst":"10.1.1.1"}]`))
	f.Add([]byte(`[{"dst":"10.0.0.0/33"},{"dst":"::1/128"},{"dst":""}]`))
	f.Add([]byte(``))
	f.Fuzz(func(t *testing.T, b []byte) {
		ps, err := parseRoutes(b)
		if err != nil {
			return
		}
		for _, p := range ps {
			if !p.IsValid() || !p.Addr().Is4() || p.Bits() == 0 {
				t.Fatalf("parseRoutes returned %v", p)
			}
		}
	})
}
