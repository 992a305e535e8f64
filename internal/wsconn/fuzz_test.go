package wsconn

import (
	"bytes"
	"errors"
	"io"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"testing/iotest"
)

func FuzzReadFrame(f *testing.F) {
	seeds := [][]byte{
		masked(opText, []byte("hello")),
		masked(opBinary, bytes.Repeat([]byte{7}, 300)),
		concat(fragment(false, opText, "€"[:2]), masked(opPing, []byte("p")), fragment(true, opContinuation, "€"[2:])),
		masked(opClose, closePayload(1000, "bye")),
		masked(opClose, []byte{1}),
		clientFrame(true, 0, opText, false, []byte("unmasked")),
		clientFrame(true, 4, opText, true, []byte("rsv")),
		{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		{0x81, 0xfe, 0x10, 0x00, 1, 2, 3, 4, 'x'},
		masked(opText, []byte("\xed\xa0\x80")),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	const maxFrame, maxMessage = 512, 1024
	f.Fuzz(func(t *testing.T, data []byte) {
		rd := Reader{Limits: Limits{MaxFrameSize: maxFrame, MaxMessageSize: maxMessage}}
		var r io.Reader = bytes.NewReader(data)
		if len(data)%2 == 1 {
			r = iotest.OneByteReader(r) // short reads, as from a socket
		}
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		for range 1000 {
			fr, err := rd.ReadFrame(r)
			if err != nil {
				var ce *CloseError
				if !errors.As(err, &ce) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf(
						"unexpected error %v",
						err,
					)
				}
				if ce != nil && !ValidCloseCode(ce.Code) {
					t.Fatalf(
						"CloseError with an unsendable code %d",
						ce.Code,
					)
				}
				break
			}
			if len(fr.Payload) > maxMessage {
				t.Fatalf(
					"payload of %d bytes passed MaxMessageSize",
					len(fr.Payload),
				)
			}
			if len(rd.msg) > maxMessage {
				t.Fatalf(
					"message in progress of %d bytes",
					len(rd.msg),
				)
			}
		}
		runtime.ReadMemStats(&after)
		// Allocation follows the bytes that arrived, never the declared lengths.
		if got, limit := after.TotalAlloc-before.TotalAlloc, uint64(4*len(data)+64<<10); got > limit {
			t.Fatalf(
				"allocated %d bytes for %d input bytes",
				got, len(data),
			)
		}
	})
}

func FuzzUpgrade(f *testing.F) {
	seeds := []string{
		validRequest("/ws?x=1", "Origin: https://app.example.com\r\n"),
		validRequest("/", "Origin: https://evil.test\r\n"),
		strings.Replace(validRequest("/"), "GET", "PUT", 1),
		strings.Replace(validRequest("/"), "Version: 13", "Version: 7", 1),
		validRequest("/", manyHeaders(20)),
		validRequest("/deny"),
		validRequest("/", "Sec-WebSocket-Protocol: mqtt, chat.v1\r\n"),
		validRequest("/hook", "Sec-WebSocket-Protocol: chat.v1,x\r\n"),
		validRequest("/") + "early",
		"GET / HTTP/1.1\n\n",
		"\r\n\r\n",
		"GET / HTTP/1.1\r\nHost: x\r\n",
		"",
	}
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	cfg := &UpgradeConfig{
		AllowedOrigins: []string{"*.example.com"},
		MaxHeaders:     16,
		MaxHeaderBytes: 1024,
		Protocols:      []string{"chat.v1", "graphql-ws"},
		Check: func(h *Handshake) error {
			if h.Path == "/deny" {
				return &RejectError{Status: http.StatusUnauthorized, Reason: "denied"}
			}
			if h.Path == "/hook" && len(h.Protocols) > 0 {
				h.Protocol = h.Protocols[len(h.Protocols)-1] // may be anything the client sent
			}
			return nil
		},
	}
	// The input is served by a memConn: net.Pipe has no half-close, so with it
	// "the request ended" and "the response was written" would race.
	f.Fuzz(func(t *testing.T, data []byte) {
		conn := &memConn{in: bytes.NewReader(data), chunk: 1 + len(data)%64}
		hs, err := Upgrade(conn, cfg)
		out := conn.out.Bytes()
		var rej *RejectError
		switch {
		case err == nil:
			if !bytes.HasPrefix(out, []byte("HTTP/1.1 101 ")) {
				t.Fatalf(
					"handshake %+v but response %q",
					hs, out,
				)
			}
			// The response names the chosen protocol, one the client
			// offered and a valid token, and nothing else.
			named := bytes.Contains(out, []byte("\r\nSec-WebSocket-Protocol: "+hs.Protocol+"\r\n"))
			if hs.Protocol != "" && (!named || !ValidProtocol(hs.Protocol) || !slices.Contains(hs.Protocols, hs.Protocol)) ||
				hs.Protocol == "" && bytes.Contains(out, []byte("Sec-WebSocket-Protocol")) {
				t.Fatalf("protocol %q of %q, response %q", hs.Protocol, hs.Protocols, out)
			}
			if len(hs.Headers) > cfg.MaxHeaders || hs.Path == "" {
				t.Fatalf(
					"handshake %+v breaks the limits",
					hs,
				)
			}
		case errors.As(err, &rej):
			want := "HTTP/1.1 " + strconv.Itoa(rej.Status) + " "
			if !bytes.HasPrefix(out, []byte(want)) {
				t.Fatalf(
					"rejection %v but response %q",
					err, out,
				)
			}
		default:
			if len(out) != 0 {
				t.Fatalf(
					"I/O error %v but a response was written: %q",
					err, out,
				)
			}
		}
	})
}
