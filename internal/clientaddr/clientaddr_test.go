package clientaddr

import (
	"net/netip"
	"testing"
)

func TestFromForwarded(t *testing.T) {
	tr, err := ParseTrusted([]string{"10.0.0.0/8", "192.0.2.10", " 2001:db8::/32 ", ""})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		peer string
		xff  []string
		want string
	}{
		{"untrusted peer ignores the header", "203.0.113.9", []string{"1.1.1.1"}, "203.0.113.9"},
		{"trusted peer, one hop", "10.1.2.3", []string{"198.51.100.7"}, "198.51.100.7"},
		{"client forges the left part", "10.1.2.3", []string{"6.6.6.6, 198.51.100.7"}, "198.51.100.7"},
		{"chain of trusted proxies", "10.1.2.3", []string{"198.51.100.7, 192.0.2.10", "10.9.9.9"}, "198.51.100.7"},
		{"all trusted", "10.1.2.3", []string{"10.2.2.2"}, "10.2.2.2"},
		{"no header", "10.1.2.3", nil, "10.1.2.3"},
		{"with ports and brackets", "192.0.2.10", []string{"[2001:db9::1]:443"}, "2001:db9::1"},
		{"IPv4 with port", "192.0.2.10", []string{"198.51.100.7:5555"}, "198.51.100.7"},
		{"garbage stops at the last trusted hop", "10.1.2.3", []string{"198.51.100.7, junk, 10.4.4.4"}, "10.4.4.4"},
		{"mapped peer", "::ffff:10.1.2.3", []string{"198.51.100.7"}, "198.51.100.7"},
		{"ipv6 trusted", "2001:db8::5", []string{"198.51.100.7"}, "198.51.100.7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := tr.FromForwarded(netip.MustParseAddr(tt.peer), tt.xff)
			if got != netip.MustParseAddr(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
	if _, err := ParseTrusted([]string{"10.0.0.0/33"}); err == nil {
		t.Fatal("bad CIDR accepted")
	}
	if _, err := ParseTrusted([]string{"example.com"}); err == nil {
		t.Fatal("host name accepted")
	}
}

func FuzzFromForwarded(f *testing.F) {
	tr, _ := ParseTrusted([]string{"10.0.0.0/8"})
	f.Add("198.51.100.7, 10.0.0.1")
	f.Add("[::1]:80,junk")
	f.Fuzz(func(t *testing.T, xff string) {
		got := tr.FromForwarded(netip.MustParseAddr("10.0.0.1"), []string{xff})
		if !got.IsValid() {
			t.Fatalf("invalid address for %q", xff)
		}
	})
}
