package gateway

import (
	"net/http"
	"strconv"
	"strings"
	"testing"

	"github.com/gobwas/ws"
)

// RFC 6455 server side, end to end: a raw TCP client writes hand-made
// requests and frames to a real gateway and checks the exact answer.

func TestRFCBadUpgradeRequests(t *testing.T) {
	tg := startGateway(t, Config{MaxConnections: 1000})
	valid := upgradeRequest("/")
	without := func(header string) string {
		var kept []string
		for _, l := range strings.SplitAfter(valid, "\r\n") {
			if !strings.HasPrefix(l, header+":") {
				kept = append(kept, l)
			}
		}
		return strings.Join(kept, "")
	}
	cases := []struct {
		name   string
		req    string
		status int
	}{
		{"version 8", strings.Replace(valid, "Version: 13", "Version: 8", 1), http.StatusUpgradeRequired},
		{"version missing", without("Sec-WebSocket-Version"), http.StatusBadRequest},
		{"key missing", without("Sec-WebSocket-Key"), http.StatusBadRequest},
		{"key not 16 bytes", strings.Replace(valid, "dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ=", 1), http.StatusBadRequest},
		{"upgrade missing", without("Upgrade"), http.StatusBadRequest},
		{"upgrade not websocket", strings.Replace(valid, "Upgrade: websocket", "Upgrade: h2c", 1), http.StatusBadRequest},
		{"connection missing", without("Connection"), http.StatusBadRequest},
		{"connection keep-alive", strings.Replace(valid, "Connection: Upgrade", "Connection: keep-alive", 1), http.StatusBadRequest},
		{"host missing", without("Host"), http.StatusBadRequest},
		{"method POST", strings.Replace(valid, "GET", "POST", 1), http.StatusMethodNotAllowed},
		{"not HTTP", "HELLO\r\n\r\n", http.StatusBadRequest},
		{"bad target", strings.Replace(valid, "GET /", "GET ftp://x/", 1), http.StatusBadRequest},
		{"headers too large", upgradeRequest("/", "X-Big: "+strings.Repeat("a", 9<<10)+"\r\n"), http.StatusRequestHeaderFieldsTooLarge},
		{"too many headers", upgradeRequest("/", strings.Repeat("X-A: b\r\n", 100)), http.StatusRequestHeaderFieldsTooLarge},
		{"data before the 101", valid + string(maskedFrame(rawText, "early")), http.StatusBadRequest},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := dialRaw(t, tg.public)
			resp := c.request(tc.req)
			if resp.StatusCode != tc.status {
				t.Fatalf("status %d, want %d", resp.StatusCode, tc.status)
			}
			if tc.status == http.StatusUpgradeRequired && resp.Header.Get("Sec-WebSocket-Version") != "13" {
				t.Fatalf("426 without Sec-WebSocket-Version: 13: %v", resp.Header)
			}
			c.expectEOF()
		})
	}
	eventually(t, "every refusal counted", func() bool { return tg.Stats().Rejected == uint64(len(cases)) })
	if st := tg.Stats(); st.Accepted != 0 || st.Clients != 0 {
		t.Fatalf("stats = %+v", st)
	}
}

func TestRFCProtocolViolationsClose(t *testing.T) {
	tg := startGateway(t, Config{MaxMessageSize: 1000})
	w := dialLink(t, tg.lan, "", "w1", true)
	ping126 := strings.Repeat("p", 126)
	euro := "€" // 3 bytes: e2 82 ac
	type tc struct {
		name   string
		frames [][]byte
		code   uint16
	}
	cases := []tc{
		{"unmasked frame", [][]byte{rawFrame(true, 0, rawText, false, []byte("hi"))}, 1002},
		{"rsv1", [][]byte{rawFrame(true, 4, rawText, true, []byte("hi"))}, 1002},
		{"rsv2", [][]byte{rawFrame(true, 2, rawBinary, true, []byte("hi"))}, 1002},
		{"rsv3 on ping", [][]byte{rawFrame(true, 1, rawPing, true, nil)}, 1002},
		{"fragmented ping", [][]byte{fragFrame(false, rawPing, "p")}, 1002},
		{"fragmented close", [][]byte{fragFrame(false, rawClose, closeBody(1000, ""))}, 1002},
		{"ping over 125 bytes", [][]byte{maskedFrame(rawPing, ping126)}, 1002},
		{"close over 125 bytes", [][]byte{maskedFrame(rawClose, closeBody(1000, ping126))}, 1002},
		{"pong over 125 bytes", [][]byte{maskedFrame(rawPong, ping126)}, 1002},
		{"continuation without start", [][]byte{fragFrame(true, rawCont, "x")}, 1002},
		{"text inside a fragmented message", [][]byte{fragFrame(false, rawText, "a"), fragFrame(true, rawText, "b")}, 1002},
		{"close of 1 byte", [][]byte{maskedFrame(rawClose, "\x03")}, 1002},
		{"64-bit length with MSB set", [][]byte{{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1, 1, 2, 3, 4}}, 1002},
		{"invalid UTF-8", [][]byte{maskedFrame(rawText, "ok \xff")}, 1007},
		{"surrogate half", [][]byte{maskedFrame(rawText, "\xed\xa0\x80")}, 1007},
		{"invalid UTF-8 fragmented", [][]byte{fragFrame(false, rawText, "fine"), fragFrame(true, rawCont, "\xc0\xaf")}, 1007},
		{"code point split then broken", [][]byte{fragFrame(false, rawText, euro[:2]), fragFrame(true, rawCont, "x")}, 1007},
		{"message ends inside a code point", [][]byte{fragFrame(false, rawText, "a"), fragFrame(true, rawCont, euro[:2])}, 1007},
		{"invalid UTF-8 in close reason", [][]byte{maskedFrame(rawClose, closeBody(1000, "\xff"))}, 1007},
		{"frame over the limit", [][]byte{maskedFrame(rawBinary, strings.Repeat("x", 1001))}, 1009},
		{"message over the limit", [][]byte{fragFrame(false, rawBinary, strings.Repeat("x", 600)), fragFrame(true, rawCont, strings.Repeat("x", 600))}, 1009},
	}
	for _, op := range []byte{3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF} {
		cases = append(cases, tc{"reserved opcode " + string("0123456789ABCDEF"[op]), [][]byte{maskedFrame(op, "")}, 1002})
	}
	for _, code := range []uint16{0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535} {
		cases = append(cases, tc{"close code " + strconv.Itoa(int(code)), [][]byte{maskedFrame(rawClose, closeBody(code, ""))}, 1002})
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rc := upgradeRaw(t, tg.public)
			w.connectEvent()
			for _, f := range c.frames {
				rc.write(f)
			}
			rc.expectClose(c.code)
			ev := w.event()
			if ev.GetMessage() != nil { // a message completed before the violation
				ev = w.event()
			}
			if cl := ev.GetClose(); cl == nil || cl.GetCode() != uint32(c.code) {
				t.Fatalf("close event %v, want code %d", ev, c.code)
			}
		})
	}
	eventually(t, "clients removed", func() bool { return tg.Stats().Clients == 0 })
	eventually(t, "protocol errors counted", func() bool { return tg.Stats().ProtocolErrors == uint64(len(cases)) })
}

func TestRFCValidFramesAccepted(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	rc := upgradeRaw(t, tg.public)
	w.connectEvent()
	euro := "€"
	ping125 := strings.Repeat("q", 125)

	// A text message fragmented inside a code point, with pings, a pong and
	// an empty fragment interleaved: every ping is answered at once with its
	// payload, the message arrives whole.
	rc.write(fragFrame(false, rawText, "price: "+euro[:1]))
	rc.write(maskedFrame(rawPing, "one"))
	rc.write(fragFrame(false, rawCont, euro[1:2]))
	rc.write(maskedFrame(rawPong, "unsolicited"))
	rc.write(fragFrame(false, rawCont, ""))
	rc.write(maskedFrame(rawPing, ping125))
	rc.write(fragFrame(true, rawCont, euro[2:]+"5"))
	for _, want := range []string{"one", ping125} {
		if f := rc.expectFrame(); f.op != ws.OpPong || string(f.payload) != want {
			t.Fatalf("got %v %q, want pong %q", f.op, f.payload, want)
		}
	}
	if m := w.event().GetMessage(); string(m.GetData()) != "price: €5" || m.GetBinary() {
		t.Fatalf("message %v", m)
	}
	// Empty text and binary messages are valid.
	rc.write(maskedFrame(rawText, ""))
	rc.write(maskedFrame(rawBinary, ""))
	for _, bin := range []bool{false, true} {
		if m := w.event().GetMessage(); m == nil || len(m.GetData()) != 0 || m.GetBinary() != bin {
			t.Fatalf("empty message %v", m)
		}
	}
	// The 16-bit length form.
	big := strings.Repeat("z", 300)
	rc.write(maskedFrame(rawBinary, big))
	if m := w.event().GetMessage(); string(m.GetData()) != big || !m.GetBinary() {
		t.Fatal("300-byte binary message altered")
	}
}

// The close handshake echoes the client's code (and sends no reason), or an
// empty close for an empty one, then closes the socket.
func TestRFCCloseEchoesCode(t *testing.T) {
	tg := startGateway(t, Config{})
	w := dialLink(t, tg.lan, "", "w1", true)
	for _, code := range []uint16{1000, 1001, 1003, 1007, 1011, 1014, 3000, 4000, 4999, 1005} {
		t.Run(strconv.Itoa(int(code)), func(t *testing.T) {
			rc := upgradeRaw(t, tg.public)
			w.connectEvent()
			body := closeBody(code, "bye")
			if code == 1005 {
				body = "" // no status: an empty close frame
			}
			rc.write(maskedFrame(rawClose, body))
			f := rc.expectFrame()
			if f.op != ws.OpClose || f.closeCode() != code {
				t.Fatalf("got %v %q, want close %d", f.op, f.payload, code)
			}
			if code != 1005 && len(f.payload) != 2 {
				t.Fatalf("echo carries a reason: %q", f.payload)
			}
			rc.expectEOF()
			if cl := w.event().GetClose(); cl.GetCode() != uint32(code) {
				t.Fatalf("close event %v", cl)
			}
		})
	}
}
