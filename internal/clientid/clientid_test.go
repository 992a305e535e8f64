package clientid

import (
	"errors"
	"testing"
)

func TestRoundTrip(t *testing.T) {
	for _, id := range []ID{{1, 0}, {0xdeadbeefcafef00d, 42}, {^uint64(0), ^uint64(0)}} {
		s := id.String()
		if len(s) != Len {
			t.Fatalf("len(%q) = %d, want %d", s, len(s), Len)
		}
		got, err := Parse(s)
		if err != nil {
			t.Fatalf("Parse(%q): %v", s, err)
		}
		if got != id {
			t.Fatalf("Parse(%q) = %+v, want %+v", s, got, id)
		}
	}
	if got := (ID{Node: 0x0102030405060708, Conn: 9}).String(); got != "01020304050607080000000000000009" {
		t.Fatalf("String = %q", got)
	}
}

func TestParseInvalid(t *testing.T) {
	for _, s := range []string{"", "abc", "0000000000000000000000000000000g", "00000000000000000000000000000001", "0102030405060708000000000000000900"} {
		if _, err := Parse(s); !errors.Is(err, ErrInvalid) {
			t.Errorf("Parse(%q) err = %v, want ErrInvalid", s, err)
		}
	}
}

func FuzzParse(f *testing.F) {
	f.Add("01020304050607080000000000000009")
	f.Add("")
	f.Add("zz")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := Parse(s)
		if err != nil {
			return
		}
		if back, err := Parse(id.String()); err != nil || back != id {
			t.Fatalf("round trip of %q: %v %+v", s, err, back)
		}
	})
}

func BenchmarkString(b *testing.B) {
	b.ReportAllocs()
	id := ID{Node: 0xdeadbeefcafef00d, Conn: 42}
	buf := make([]byte, 0, Len)
	for i := 0; i < b.N; i++ {
		buf = id.Append(buf[:0])
	}
}
