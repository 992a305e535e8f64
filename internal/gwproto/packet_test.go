package gwproto

import (
	"bytes"
	"encoding/hex"
	"errors"
	"io"
	"testing"
)

// vectors are whole packets as GatewayWorker 4.x's GatewayClient,
// BusinessWorker and Gateway put them on the wire, one per command, written
// from the published layout: N pack_len, C cmd, N local_ip, n local_port,
// N client_ip, n client_port, N connection_id, C flag, n gateway_port,
// N ext_len, ext_data, body (flag 0x01: the body is a scalar; without it,
// a serialize()d value).
var vectors = []struct{ name, hex string }{
	{"send_to_one", "0000002105000000000000000000000000000000070100000000000068656c6c6f"},
	{"send_to_one_raw", "0000001e0500000000000000000000000000000007030000000000006869"},
	{"send_to_all_conns", "0000003a06000000000000000000000000000000000100000000001d7b22636f6e6e656374696f6e73223a7b2233223a332c2239223a397d7d78"},
	{"send_to_all_exclude", "000000300600000000000000000000000000000000010000000000137b226578636c756465223a7b2234223a347d7d78"},
	{"kick", "0000001f070000000000000000000000000000010201000000000000627965"},
	{"kick_null", "0000001e0700000000000000000000000000000102000000000000004e3b"},
	{"destroy", "0000001c080000000000000000000000000001000001000000000000"},
	{"update_session", "00000032090000000000000000000000000000000101000000000016613a313a7b733a313a2261223b733a313a2262223b7d"},
	{"all_sessions", "0000001c0a0000000000000000000000000000000001000000000000"},
	{"is_online", "0000001c0b0000000000000000000000000000000101000000000000"},
	{"bind_uid", "0000001e0c00000000000000000000000000000001010000000000027531"},
	{"unbind_uid", "0000001e0d00000000000000000000000000000001010000000000027531"},
	{"send_to_uid", "000000250e00000000000000000000000000000000010000000000085b227531222c325d6d"},
	{"client_id_by_uid", "0000001e0f00000000000000000000000000000000010000000000027531"},
	{"batch_client_id_by_uid", "0000002710000000000000000000000000000000000100000000000b5b227531222c227532225d"},
	{"join_group", "0000001d14000000000000000000000000000000010100000000000167"},
	{"leave_group", "0000001d15000000000000000000000000000000010100000000000167"},
	{"send_to_group", "0000003b16000000000000000000000000000000000100000000001e7b2267726f7570223a5b2267225d2c226578636c756465223a6e756c6c7d6d"},
	{"send_to_group_ex", "000000401600000000000000000000000000000000010000000000237b2267726f7570223a5b2267222c355d2c226578636c756465223a7b2232223a327d7d6d"},
	{"sessions_by_group", "0000001d17000000000000000000000000000000000100000000000167"},
	{"count_by_group", "0000001d18000000000000000000000000000000000100000000000167"},
	{"select", "0000005a19000000000000000000000000000000000100000000003e7b226669656c6473223a5b22756964222c2267726f757073222c2273657373696f6e225d2c227768657265223a7b2267726f757073223a5b2267225d7d7d"},
	{"group_id_list", "0000001c1a0000000000000000000000000000000001000000000000"},
	{"ungroup", "0000001d1b000000000000000000000000000000000100000000000167"},
	{"batch_count_by_group", "000000251c00000000000000000000000000000000010000000000095b2267222c2268225d"},
	{"worker_connect", "00000041c800000000000000000000000000000000010000000000007b22776f726b65725f6b6579223a22773a31222c227365637265745f6b6579223a2273227d"},
	{"ping", "0000001cc90000000000000000000000000000000001000000000000"},
	{"gateway_client_connect", "0000002eca00000000000000000000000000000000010000000000007b227365637265745f6b6579223a2273227d"},
	{"session_by_client_id", "0000001ccb0000000000000000000000000000000101000000000000"},
	{"set_session", "0000002ecc0000000000000000000000000000000101000000000012613a313a7b733a313a226e223b693a313b7d"},
	{"on_connect", "0000001c017f0000010b540a0102039c400000000101205a00000000"},
	{"on_message", "00000034037f0000010b540a0102039c400000000101205a00000016613a313a7b733a313a226b223b733a313a2276223b7d6869"},
	{"on_close", "0000001c047f0000010b540a0102039c400000000101205a00000000"},
	{"on_ws_connect", "00000087cd7f0000010b540a0102039c400000000100205a00000000613a333a7b733a333a22676574223b613a313a7b733a313a2261223b733a313a2231223b7d733a363a22736572766572223b613a313a7b733a31313a22524551554553545f555249223b733a353a222f3f613d31223b7d733a363a22636f6f6b6965223b613a303a7b7d7d"},
}

func vector(t testing.TB, name string) []byte {
	t.Helper()
	for _, v := range vectors {
		if v.name == name {
			b, err := hex.DecodeString(v.hex)
			if err != nil {
				t.Fatal(err)
			}
			return b
		}
	}
	t.Fatalf("no vector %q", name)
	return nil
}

func TestVectorsDecodeAndReencode(t *testing.T) {
	for _, v := range vectors {
		b := vector(t, v.name)
		p, err := DecodePacket(b)
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got := AppendPacket(nil, &p); !bytes.Equal(got, b) {
			t.Errorf("%s: re-encoded\n%x\nwant\n%x", v.name, got, b)
		}
	}
}

func TestVectorFields(t *testing.T) {
	cases := []struct {
		name string
		want Packet
	}{
		{"send_to_one", Packet{Header: Header{Cmd: CmdSendToOne, ConnectionID: 7, Flag: FlagBodyIsScalar}, Ext: []byte{}, Body: []byte("hello")}},
		{"send_to_one_raw", Packet{Header: Header{Cmd: CmdSendToOne, ConnectionID: 7, Flag: FlagBodyIsScalar | FlagNotCallEncode}, Ext: []byte{}, Body: []byte("hi")}},
		{"send_to_all_conns", Packet{Header: Header{Cmd: CmdSendToAll, Flag: 1}, Ext: []byte(`{"connections":{"3":3,"9":9}}`), Body: []byte("x")}},
		{"kick_null", Packet{Header: Header{Cmd: CmdKick, ConnectionID: 258}, Ext: []byte{}, Body: []byte("N;")}},
		{"destroy", Packet{Header: Header{Cmd: CmdDestroy, ConnectionID: 65536, Flag: 1}, Ext: []byte{}, Body: []byte{}}},
		{"update_session", Packet{Header: Header{Cmd: CmdUpdateSession, ConnectionID: 1, Flag: 1}, Ext: []byte(`a:1:{s:1:"a";s:1:"b";}`), Body: []byte{}}},
		{"send_to_uid", Packet{Header: Header{Cmd: CmdSendToUID, Flag: 1}, Ext: []byte(`["u1",2]`), Body: []byte("m")}},
		{"send_to_group_ex", Packet{Header: Header{Cmd: CmdSendToGroup, Flag: 1}, Ext: []byte(`{"group":["g",5],"exclude":{"2":2}}`), Body: []byte("m")}},
		{"worker_connect", Packet{Header: Header{Cmd: CmdWorkerConnect, Flag: 1}, Ext: []byte{}, Body: []byte(`{"worker_key":"w:1","secret_key":"s"}`)}},
		{"on_message", Packet{Header: Header{Cmd: CmdOnMessage, LocalIP: 0x7f000001, LocalPort: 2900, ClientIP: 0x0a010203, ClientPort: 40000, ConnectionID: 1, Flag: 1, GatewayPort: 8282}, Ext: []byte(`a:1:{s:1:"k";s:1:"v";}`), Body: []byte("hi")}},
	}
	for _, c := range cases {
		p, err := DecodePacket(vector(t, c.name))
		if err != nil {
			t.Fatal(err)
		}
		if p.Header != c.want.Header || !bytes.Equal(p.Ext, c.want.Ext) || !bytes.Equal(p.Body, c.want.Body) {
			t.Errorf("%s: got %+v ext %q body %q, want %+v ext %q body %q", c.name, p.Header, p.Ext, p.Body, c.want.Header, c.want.Ext, c.want.Body)
		}
		if got := AppendPacket(nil, &c.want); !bytes.Equal(got, vector(t, c.name)) {
			t.Errorf("%s: encoded %x", c.name, got)
		}
	}
}

func TestWebSocketConnectBody(t *testing.T) {
	p, err := DecodePacket(vector(t, "on_ws_connect"))
	if err != nil {
		t.Fatal(err)
	}
	if p.Flag&FlagBodyIsScalar != 0 {
		t.Fatal("websocket connect body must be serialized")
	}
	v, err := Unmarshal(p.Body)
	if err != nil {
		t.Fatal(err)
	}
	a := v.(*Array)
	get, _ := a.Get(StrKey("get"))
	if x, _ := get.(*Array).Get(StrKey("a")); x != "1" {
		t.Fatalf("get[a] = %v", x)
	}
	srv, _ := a.Get(StrKey("server"))
	if x, _ := srv.(*Array).Get(StrKey("REQUEST_URI")); x != "/?a=1" {
		t.Fatalf("server[REQUEST_URI] = %v", x)
	}
}

func TestReaderStream(t *testing.T) {
	var stream []byte
	for _, v := range vectors {
		stream = append(stream, vector(t, v.name)...)
	}
	// A reader that hands out one byte at a time still frames correctly.
	r := NewReader(&oneByte{b: stream}, 0)
	for _, v := range vectors {
		p, err := r.ReadPacket()
		if err != nil {
			t.Fatalf("%s: %v", v.name, err)
		}
		if got := AppendPacket(nil, &p); !bytes.Equal(got, vector(t, v.name)) {
			t.Fatalf("%s: %x", v.name, got)
		}
	}
	if _, err := r.ReadPacket(); err != io.EOF {
		t.Fatalf("end: %v, want EOF", err)
	}
}

type oneByte struct{ b []byte }

func (o *oneByte) Read(p []byte) (int, error) {
	if len(o.b) == 0 {
		return 0, io.EOF
	}
	p[0] = o.b[0]
	o.b = o.b[1:]
	return 1, nil
}

func TestReaderHostile(t *testing.T) {
	cases := map[string]struct {
		in   []byte
		want error
	}{
		"short pack_len": {[]byte{0, 0, 0, 5, 1, 2, 3, 4, 5}, ErrMalformed},
		"huge pack_len":  {[]byte{0xff, 0xff, 0xff, 0xff}, ErrTooLarge},
		"ext past end":   {append([]byte{0, 0, 0, 28, 5}, append(make([]byte, 19), 0, 0, 0, 1)...), ErrMalformed},
		"truncated":      {vector(t, "send_to_one")[:30], io.ErrUnexpectedEOF},
		"truncated head": {[]byte{0, 0}, io.ErrUnexpectedEOF},
	}
	for name, c := range cases {
		_, err := NewReader(bytes.NewReader(c.in), 1<<20).ReadPacket()
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err %v, want %v", name, err, c.want)
		}
	}
}

func TestReply(t *testing.T) {
	b := AppendReply(nil, []byte("i:1;"))
	if hex.EncodeToString(b) != "00000004693a313b" {
		t.Fatalf("%x", b)
	}
	got, err := ReadReply(bytes.NewReader(b), 0)
	if err != nil || string(got) != "i:1;" {
		t.Fatalf("%q %v", got, err)
	}
	if _, err := ReadReply(bytes.NewReader([]byte{0, 1, 0, 0}), 10); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("err %v", err)
	}
}

func FuzzReadPacket(f *testing.F) {
	for _, v := range vectors {
		b, _ := hex.DecodeString(v.hex)
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b), 1<<16)
		for range 8 {
			p, err := r.ReadPacket()
			if err != nil {
				return
			}
			if got := AppendPacket(nil, &p); len(got) != p.Len() {
				t.Fatalf("re-encoded %d bytes, want %d", len(got), p.Len())
			}
			if p.Flag&FlagBodyIsScalar == 0 {
				_, _ = Unmarshal(p.Body)
			}
		}
	})
}
