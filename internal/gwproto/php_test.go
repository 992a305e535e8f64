package gwproto

import (
	"bytes"
	"errors"
	"testing"
)

// serialize() output of PHP for the values GatewayWorker puts on the wire.
func TestSerializeVectors(t *testing.T) {
	inner := &Array{}
	inner.Append(true)
	inner.Append(nil)
	inner.Append(Float("1.5"))
	inner.Append(int64(-3))
	arr := &Array{}
	arr.Set(IntKey(5), "a")
	arr.Set(StrKey("k"), inner)
	arr.Set(StrKey("07"), "x")
	cases := []struct {
		v    Value
		want string
	}{
		{nil, "N;"},
		{true, "b:1;"},
		{false, "b:0;"},
		{int64(-42), "i:-42;"},
		{Float("0.5"), "d:0.5;"},
		{"héllo", `s:6:"héllo";`},
		{"", `s:0:"";`},
		{&Array{}, "a:0:{}"},
		{arr, `a:3:{i:5;s:1:"a";s:1:"k";a:4:{i:0;b:1;i:1;N;i:2;d:1.5;i:3;i:-3;}s:2:"07";s:1:"x";}`},
	}
	for _, c := range cases {
		got, err := Marshal(nil, c.v)
		if err != nil || string(got) != c.want {
			t.Errorf("Marshal(%#v) = %q, %v; want %q", c.v, got, err, c.want)
		}
		back, err := Unmarshal([]byte(c.want))
		if err != nil {
			t.Errorf("Unmarshal(%q): %v", c.want, err)
			continue
		}
		again, _ := Marshal(nil, back)
		if string(again) != c.want {
			t.Errorf("round trip of %q gave %q", c.want, again)
		}
	}
}

func TestStrKeyLikePHP(t *testing.T) {
	for s, isInt := range map[string]bool{"5": true, "-3": true, "0": true, "05": false, "+5": false, "-0": false, "5 ": false, "": false, "99999999999999999999": false, "abc": false} {
		if k := StrKey(s); k.IsStr == isInt {
			t.Errorf("StrKey(%q).IsStr = %v", s, k.IsStr)
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	for _, s := range []string{
		``, `N`, `i:;`, `i:1`, `b:2;`, `s:5:"abc";`, `s:-1:"";`, `s:3:"abc"`, `a:1:{}`, `a:99999:{i:0;N;}`,
		`O:8:"stdClass":0:{}`, `C:3:"Foo":0:{}`, `r:1;`, `R:1;`, `a:1:{d:1.5;N;}`, `d:abc;`, `i:1;i:2;`,
		`a:1:{i:0;` + string(bytes.Repeat([]byte("a:1:{i:0;"), 100)),
	} {
		if _, err := Unmarshal([]byte(s)); !errors.Is(err, ErrMalformed) {
			t.Errorf("Unmarshal(%q) err = %v, want ErrMalformed", s, err)
		}
	}
}

func TestReplaceRecursive(t *testing.T) {
	a, _ := Unmarshal([]byte(`a:3:{s:1:"a";s:1:"1";s:1:"n";a:2:{s:1:"x";i:1;s:1:"y";i:2;}s:1:"z";i:0;}`))
	b, _ := Unmarshal([]byte(`a:3:{s:1:"n";a:1:{s:1:"y";i:3;}s:1:"a";N;s:3:"new";s:1:"v";}`))
	a.(*Array).ReplaceRecursive(b.(*Array))
	got := MustMarshal(a)
	// PHP: array_replace_recursive keeps a's order, replaces a, merges n, appends new.
	want := `a:4:{s:1:"a";N;s:1:"n";a:2:{s:1:"x";i:1;s:1:"y";i:3;}s:1:"z";i:0;s:3:"new";s:1:"v";}`
	if string(got) != want {
		t.Fatalf("got %s\nwant %s", got, want)
	}
}

func TestClientIDVectors(t *testing.T) {
	// bin2hex(pack('NnN', ip2long('127.0.0.1'), 2900, 1))
	id := ClientID{IP: 0x7f000001, Port: 2900, ConnectionID: 1}
	if id.String() != "7f0000010b5400000001" {
		t.Fatalf("%s", id)
	}
	if id.Addr() != "127.0.0.1:2900" {
		t.Fatalf("%s", id.Addr())
	}
	back, err := ParseClientID("7F0000010B5400000001")
	if err != nil || back != id {
		t.Fatalf("%+v %v", back, err)
	}
	for _, s := range []string{"", "7f0000010b540000000", "7f0000010b540000000g", "7f0000010b54000000010"} {
		if _, err := ParseClientID(s); !errors.Is(err, ErrMalformed) {
			t.Errorf("ParseClientID(%q): %v", s, err)
		}
	}
	ip, port, err := ParseAddr("10.0.0.7:1236")
	if err != nil || ip != 0x0a000007 || port != 1236 {
		t.Fatalf("%x %d %v", ip, port, err)
	}
	if _, _, err := ParseAddr("[::1]:80"); err == nil {
		t.Fatal("IPv6 accepted")
	}
}

func TestRegisterLines(t *testing.T) {
	r, err := ParseRegisterRequest([]byte(`{"event":"worker_connect","secret_key":"s"}`))
	if err != nil || r.Event != "worker_connect" || r.SecretKey != "s" {
		t.Fatalf("%+v %v", r, err)
	}
	if _, err := ParseRegisterRequest([]byte(`{"x":1}`)); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	if _, err := ParseRegisterRequest([]byte(`{`)); !errors.Is(err, ErrMalformed) {
		t.Fatal(err)
	}
	got := AppendBroadcastAddresses(nil, []string{"127.0.0.1:2900"})
	if string(got) != `{"event":"broadcast_addresses","addresses":["127.0.0.1:2900"]}`+"\n" {
		t.Fatalf("%s", got)
	}
	if got := AppendBroadcastAddresses(nil, nil); string(got) != `{"event":"broadcast_addresses","addresses":[]}`+"\n" {
		t.Fatalf("%s", got)
	}
}

func FuzzUnmarshal(f *testing.F) {
	for _, s := range []string{`N;`, `a:2:{i:0;s:1:"a";s:1:"b";a:1:{i:1;d:0.5;}}`, `b:1;`, `s:3:"a;b";`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := Unmarshal(b)
		if err != nil {
			return
		}
		out, err := Marshal(nil, v)
		if err != nil {
			t.Fatalf("marshal of a decoded value: %v", err)
		}
		v2, err := Unmarshal(out)
		if err != nil {
			t.Fatalf("re-decode %q: %v", out, err)
		}
		if out2 := MustMarshal(v2); !bytes.Equal(out, out2) {
			t.Fatalf("not stable: %q then %q", out, out2)
		}
	})
}

func FuzzClientID(f *testing.F) {
	f.Add("7f0000010b5400000001")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := ParseClientID(s)
		if err != nil {
			return
		}
		if back, err := ParseClientID(id.String()); err != nil || back != id {
			t.Fatalf("%q: %+v %v", s, back, err)
		}
	})
}
