package gateway

import (
	"maps"
	"testing"

	"github.com/gatewayworker/gatewayworker/internal/gwproto"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func TestPHPSessionCoexistence(t *testing.T) {
	const raw = `a:4:{s:4:"name";s:3:"ann";s:3:"age";i:7;s:4:"tags";a:1:{i:0;s:1:"x";}s:1:"5";s:4:"five";}`
	m := sessionFromPHP([]byte(raw))
	// PHP's int key 5 is the Go key "5"; only string values are projected.
	want := map[string]string{GatewayWorkerSessionKey: raw, "name": "ann", "5": "five"}
	if !maps.Equal(m, want) {
		t.Fatalf("sessionFromPHP = %v", m)
	}
	// Unchanged: PHP gets its bytes back exactly.
	if got := string(phpSession(m)); got != raw {
		t.Fatalf("round trip %s", got)
	}
	cases := []struct {
		name   string
		change func(map[string]string)
		want   string
	}{
		{"Go sets a string", func(m map[string]string) { m["name"] = "bob" },
			`a:4:{s:4:"name";s:3:"bob";s:3:"age";i:7;s:4:"tags";a:1:{i:0;s:1:"x";}i:5;s:4:"five";}`},
		{"Go deletes a string", func(m map[string]string) { delete(m, "name") },
			`a:3:{s:3:"age";i:7;s:4:"tags";a:1:{i:0;s:1:"x";}i:5;s:4:"five";}`},
		{"Go adds keys, sorted", func(m map[string]string) { m["z"] = "1"; m["b"] = "2" },
			`a:6:{s:4:"name";s:3:"ann";s:3:"age";i:7;s:4:"tags";a:1:{i:0;s:1:"x";}i:5;s:4:"five";s:1:"b";s:1:"2";s:1:"z";s:1:"1";}`},
		{"Go overwrites a PHP int", func(m map[string]string) { m["age"] = "8" },
			`a:4:{s:4:"name";s:3:"ann";s:3:"age";s:1:"8";s:4:"tags";a:1:{i:0;s:1:"x";}i:5;s:4:"five";}`},
	}
	for _, c := range cases {
		mm := maps.Clone(m)
		c.change(mm)
		if got := string(phpSession(mm)); got != c.want {
			t.Errorf("%s:\n got %s\nwant %s", c.name, got, c.want)
		}
	}
	// A session only Go wrote: strings in key order.
	if got := string(phpSession(map[string]string{"b": "2", "a": "1"})); got != `a:2:{s:1:"a";s:1:"1";s:1:"b";s:1:"2";}` {
		t.Fatalf("Go-only session %s", got)
	}
	if phpSession(nil) != nil || sessionFromPHP(nil) != nil {
		t.Fatal("empty session must stay empty")
	}
	// Bytes that are not an array are kept, unprojected, and given back.
	if got := sessionFromPHP([]byte("garbage")); !maps.Equal(got, map[string]string{GatewayWorkerSessionKey: "garbage"}) {
		t.Fatalf("garbage %v", got)
	}
	if got := string(phpSession(sessionFromPHP([]byte("s:1:\"x\";")))); got != `s:1:"x";` {
		t.Fatalf("non-array session given back as %s", got)
	}
	// The cache gives what phpSession gives, changed or not.
	var sc sessionCache
	for _, c := range append(cases, struct {
		name   string
		change func(map[string]string)
		want   string
	}{"unchanged", func(map[string]string) {}, raw}) {
		mm := maps.Clone(m)
		c.change(mm)
		for range 2 {
			if got := string(sc.encode(mm)); got != c.want {
				t.Errorf("cache, %s: %s", c.name, got)
			}
		}
	}
	if got := sc.encode(map[string]string{"a": "1"}); string(got) != `a:1:{s:1:"a";s:1:"1";}` {
		t.Errorf("cache, Go-only: %s", got)
	}
}

func TestMergePHPSession(t *testing.T) {
	cur := sessionFromPHP([]byte(`a:2:{s:1:"a";s:1:"1";s:1:"n";a:1:{s:1:"x";i:1;}}`))
	cur["go"] = "g"
	next := mergePHPSession(cur, []byte(`a:2:{s:1:"n";a:1:{s:1:"y";i:2;}s:1:"a";s:1:"2";}`))
	want := `a:3:{s:1:"a";s:1:"2";s:1:"n";a:2:{s:1:"x";i:1;s:1:"y";i:2;}s:2:"go";s:1:"g";}`
	if next[GatewayWorkerSessionKey] != want || next["a"] != "2" || next["go"] != "g" {
		t.Fatalf("merged %v", next)
	}
	// A malformed update changes nothing.
	if got := mergePHPSession(cur, []byte("nope")); !maps.Equal(got, cur) {
		t.Fatalf("bad update changed the session: %v", got)
	}
}

func FuzzPHPSession(f *testing.F) {
	f.Add([]byte(`a:2:{s:1:"a";s:1:"1";i:3;d:0.5;}`), "a", "b")
	f.Fuzz(func(t *testing.T, raw []byte, k, v string) {
		m := sessionFromPHP(raw)
		if m == nil {
			m = map[string]string{}
		}
		m[k] = v
		b := phpSession(m)
		if len(b) == 0 {
			return
		}
		back := sessionFromPHP(b)
		if k != GatewayWorkerSessionKey && back[k] != v {
			if _, err := gwproto.Unmarshal(raw); err == nil {
				t.Fatalf("key %q = %q after a round trip, want %q (%s)", k, back[k], v, b)
			}
		}
	})
}

// BenchmarkPHPWorkerEvent measures turning a client message event into
// GatewayProtocol bytes for a PHP BusinessWorker (the per-event hot path).
func BenchmarkPHPWorkerEvent(b *testing.B) {
	x := &compat{g: &Gateway{}, ip: 0x7f000001, port: 2900, gwPort: 7272}
	x.g.hub.init()
	s := &phpStream{x: x, addrs: map[uint64]phpClientAddr{1: {ip: 0x7f000001, port: 40000}}}
	ev := &pb.Event{Conn: 1, Session: sessionFromPHP([]byte(`a:2:{s:4:"name";s:3:"ann";s:3:"uid";i:7;}`)),
		Kind: &pb.Event_Message{Message: &pb.Message{Data: make([]byte, 64)}}}
	b.ReportAllocs()
	var buf []byte
	for b.Loop() {
		buf = s.appendEvent(buf[:0], ev)
	}
}

// BenchmarkGatewayClientPacket measures reading one GatewayClient
// sendToGroup packet.
func BenchmarkGatewayClientPacket(b *testing.B) {
	pkt := gwproto.AppendPacket(nil, &gwproto.Packet{Header: gwproto.Header{Cmd: gwproto.CmdSendToGroup, Flag: 1},
		Ext: []byte(`{"group":["room"],"exclude":null}`), Body: make([]byte, 64)})
	rd := &repeatReader{b: pkt}
	r := gwproto.NewReader(rd, 0)
	b.ReportAllocs()
	b.SetBytes(int64(len(pkt)))
	for b.Loop() {
		if _, err := r.ReadPacket(); err != nil {
			b.Fatal(err)
		}
	}
}

type repeatReader struct {
	b   []byte
	off int
}

func (r *repeatReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c := copy(p[n:], r.b[r.off:])
		n += c
		r.off = (r.off + c) % len(r.b)
	}
	return n, nil
}

// TestSeqOfWraps: a 32-bit GatewayWorker connection id names the newest
// connection sequence with those low bits.
func TestSeqOfWraps(t *testing.T) {
	g := &Gateway{}
	x := &compat{g: g}
	g.seq.Store(100)
	for id, want := range map[uint32]uint64{5: 5, 100: 100, 999: 999} {
		if got := x.seqOf(id); got != want {
			t.Errorf("seq 100: seqOf(%d) = %d, want %d", id, got, want)
		}
	}
	g.seq.Store(1<<32 + 10)
	for id, want := range map[uint32]uint64{5: 1<<32 + 5, 10: 1<<32 + 10, 20: 20, 0xffffffff: 0xffffffff} {
		if got := x.seqOf(id); got != want {
			t.Errorf("seq 2^32+10: seqOf(%d) = %d, want %d", id, got, want)
		}
	}
}
