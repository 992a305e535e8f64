package gateway

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"testing"
	"time"

	"github.com/gobwas/ws"

	"github.com/gatewayworker/gatewayworker/internal/tlsconf/tlsconftest"
)

// Issue 10 item 5: a client still sending a message too big for the
// gateway gets the 1009 close frame, not a TCP reset. Each round, the client
// (like a synchronous client library) writes a whole 8 MiB frame (the limit
// is 64 KiB) before it reads anything: every write must succeed (a gateway
// that closes its socket with unread input sends a reset, which fails the
// client's write before it ever reads the close frame), then the client
// must read the close frame with code 1009, then see the socket closed.
func TestCloseFrameSurvivesBusyClient(t *testing.T) {
	const rounds = 50
	tg := startGateway(t, Config{MaxMessageSize: 64 << 10})
	ackingWorker(t, tg) // clients are read only while a worker takes their events
	var lost int
	for i := range rounds {
		if err := busyClientRound(t, upgradeRaw(t, tg.public)); err != nil {
			lost++
			t.Errorf("round %d: %v", i, err)
		}
	}
	if lost > 0 {
		t.Fatalf("%d of %d rounds lost the close frame", lost, rounds)
	}
	eventually(t, "clients gone", func() bool { return tg.Stats().Clients == 0 })
	if st := tg.Stats(); st.ProtocolErrors != rounds {
		t.Fatalf("%d protocol error closes counted, want %d", st.ProtocolErrors, rounds)
	}
}

// The same over TLS (a net.Conn client: its reader goroutine stops, then
// the flusher drains through the TLS connection).
func TestCloseFrameSurvivesBusyClientTLS(t *testing.T) {
	const rounds = 20
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	roots := x509.NewCertPool()
	roots.AddCert(tlsconftest.WriteSelfSigned(t, 1, certFile, keyFile))
	r, err := NewCertReloader(CertReloaderConfig{CertFile: certFile, KeyFile: keyFile})
	if err != nil {
		t.Fatal(err)
	}
	tg := startTLSGateway(t, Config{MaxMessageSize: 64 << 10}, r)
	ackingWorker(t, tg)
	for i := range rounds {
		nc, err := tls.Dial("tcp", tg.public, &tls.Config{RootCAs: roots})
		if err != nil {
			t.Fatal(err)
		}
		c := &rawConn{t: t, nc: nc, br: bufio.NewReader(nc)}
		if resp := c.request(upgradeRequest("/")); resp.StatusCode != http.StatusSwitchingProtocols {
			t.Fatalf("upgrade: %d", resp.StatusCode)
		}
		if err := busyClientRound(t, c); err != nil {
			t.Errorf("round %d: %v", i, err)
		}
	}
	eventually(t, "clients gone", func() bool { return tg.Stats().Clients == 0 })
}

// busyClientRound writes an oversize message on the upgraded c, then reads
// the close frame and the end of the connection.
func busyClientRound(t *testing.T, c *rawConn) error {
	defer c.nc.Close()
	const size = 8 << 20
	frame := []byte{0x82, 0x80 | 127}
	frame = binary.BigEndian.AppendUint64(frame, size)
	frame = append(frame, 1, 2, 3, 4)
	frame = append(frame, make([]byte, size)...)
	_ = c.nc.SetWriteDeadline(time.Now().Add(waitFor))
	if _, err := c.nc.Write(frame); err != nil {
		return fmt.Errorf("write of the big message failed before reading: %w", err)
	}
	_ = c.nc.SetReadDeadline(time.Now().Add(waitFor))
	for {
		h, err := ws.ReadHeader(c.br)
		if err != nil {
			return errors.New("no close frame: " + err.Error())
		}
		p := make([]byte, h.Length)
		if _, err := c.br.Read(p); err != nil && h.Length > 0 {
			return errors.New("close frame cut: " + err.Error())
		}
		if h.OpCode != ws.OpClose {
			continue
		}
		if code := binary.BigEndian.Uint16(p); code != 1009 {
			return fmt.Errorf("close code %d", code)
		}
		break
	}
	// Then the gateway closes: EOF (or a reset once the drain bound ends).
	b := make([]byte, 1)
	if _, err := c.br.Read(b); err == nil {
		return errors.New("more data after the close frame")
	} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
		return errors.New("socket not closed after the close frame")
	}
	return nil
}

// A client over its message rate that keeps sending (its reader is still
// running when the gateway closes it) gets its 4002 close frame too: it
// writes 8 MiB of small messages before it reads, and every write must
// succeed (without the draining close, the first round fails with a reset).
func TestCloseFrameSurvivesRateLimitedClient(t *testing.T) {
	const rounds = 10
	tg := startGateway(t, Config{MessageRate: 1, MessageBurst: 1})
	ackingWorker(t, tg)
	msg := maskedFrame(rawBinary, string(make([]byte, 1024)))
	var burst []byte
	for range 8192 { // 8 MiB of 1 KiB messages, written before reading
		burst = append(burst, msg...)
	}
	for i := range rounds {
		c := upgradeRaw(t, tg.public)
		_ = c.nc.SetWriteDeadline(time.Now().Add(waitFor))
		if _, err := c.nc.Write(burst); err != nil {
			t.Fatalf("round %d: write failed before reading: %v", i, err)
		}
		c.expectClose(4002)
		_ = c.nc.Close()
	}
	eventually(t, "clients gone", func() bool { return tg.Stats().Clients == 0 })
	if st := tg.Stats(); st.RateLimited != rounds {
		t.Fatalf("%d rate-limited closes counted", st.RateLimited)
	}
}
