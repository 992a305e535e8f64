package gateway

import (
	"bufio"
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// inputConn is a client socket that delivers a fixed byte stream, then
// io.EOF, and discards what the gateway writes.
type inputConn struct {
	discardConn
	in *bytes.Reader
}

func (c *inputConn) Read(p []byte) (int, error) { return c.in.Read(p) }

// FuzzClientStream feeds what an upgraded client sends, byte for byte, to
// the gateway's reader of a real client (the code path of a netpoll
// wake-up): it never panics, every Message event holds at most
// MaxMessageSize bytes and valid UTF-8 for text, a Close event comes last
// and only once.
func FuzzClientStream(f *testing.F) {
	euro := "€"
	seeds := [][]byte{
		maskedFrame(rawText, "hello"),
		append(fragFrame(false, rawText, euro[:1]), append(maskedFrame(rawPing, "p"), fragFrame(true, rawCont, euro[1:])...)...),
		maskedFrame(rawClose, closeBody(1000, "bye")),
		maskedFrame(rawClose, "\x03"),
		rawFrame(true, 0, rawText, false, []byte("unmasked")),
		rawFrame(true, 4, rawBinary, true, []byte("rsv")),
		{0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4},
		maskedFrame(rawBinary, strings.Repeat("b", 300)),
		maskedFrame(rawText, "\xed\xa0\x80"),
		append(maskedFrame(rawText, "a"), maskedFrame(rawText, "b")...),
		{},
	}
	for _, s := range seeds {
		f.Add(s)
	}
	const maxMessage = 512
	f.Fuzz(func(t *testing.T, data []byte) {
		g, err := New(Config{MaxMessageSize: maxMessage, FrameTimeout: time.Second})
		if err != nil {
			t.Fatal(err)
		}
		l := newLink(g, &pb.Hello{LinkerId: "w", Events: true})
		g.router.add(l)
		nc := &inputConn{in: bytes.NewReader(data)}
		c := newConn(g, nc, -1)
		g.hub.add(c)
		c.mu.Lock()
		c.connectSent = true
		c.mu.Unlock()
		rb := &readBuf{br: bufio.NewReaderSize(nc, readBufferSize)}
		for c.readFrames(rb, false) == readMore {
			if _, err := rb.br.Peek(1); err != nil {
				c.readFailed(err)
				break
			}
		}
		c.finish(codeAbnormal, "")
		g.connWG.Wait()

		l.mu.Lock()
		events := l.pending
		l.mu.Unlock()
		closes := 0
		for i, qe := range events {
			switch ev := qe.ev; {
			case ev.GetMessage() != nil:
				m := ev.GetMessage()
				if len(m.GetData()) > maxMessage {
					t.Fatalf("message of %d bytes", len(m.GetData()))
				}
				if !m.GetBinary() && !utf8.Valid(m.GetData()) {
					t.Fatalf("invalid UTF-8 text message %q", m.GetData())
				}
				if closes > 0 {
					t.Fatal("message after the close event")
				}
			case ev.GetClose() != nil:
				closes++
				if i != len(events)-1 {
					t.Fatal("close event not last")
				}
			}
		}
		if closes != 1 {
			t.Fatalf("%d close events", closes)
		}
	})
}
