package wsconn

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"testing"
	"unicode/utf8"
)

func benchmarkAppendMessage(b *testing.B, size int) {
	payload := bytes.Repeat([]byte("x"), size)
	dst := make([]byte, 0, FrameSize(size))
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		dst = AppendMessage(dst[:0], false, payload)
	}
}

func BenchmarkAppendMessage16B(b *testing.B)  { benchmarkAppendMessage(b, 16) }
func BenchmarkAppendMessage1KiB(b *testing.B) { benchmarkAppendMessage(b, 1<<10) }

func BenchmarkReadFrameText64B(b *testing.B) {
	frame := masked(opText, bytes.Repeat([]byte("a"), 64))
	r := bytes.NewReader(frame)
	var rd Reader
	b.ReportAllocs()
	b.SetBytes(64)
	for b.Loop() {
		r.Reset(frame)
		f, err := rd.ReadFrame(r)
		if err != nil || len(f.Payload) != 64 {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFrameFragmented4x1KiB(b *testing.B) {
	part := string(bytes.Repeat([]byte("a"), 1<<10))
	in := concat(fragment(false, opText, part), fragment(false, opContinuation, part),
		fragment(false, opContinuation, part), fragment(true, opContinuation, part))
	r := bytes.NewReader(in)
	var rd Reader
	b.ReportAllocs()
	b.SetBytes(4 << 10)
	for b.Loop() {
		r.Reset(in)
		for r.Len() > 0 {
			if _, err := rd.ReadFrame(r); err != nil {
				b.Fatal(err)
			}
		}
	}
}

func BenchmarkUpgradePipe(b *testing.B) {
	req := []byte(validRequest("/ws?room=1", "Origin: https://app.example.com\r\nCookie: session=0123456789abcdef\r\nUser-Agent: bench\r\n"))
	cfg := &UpgradeConfig{AllowedOrigins: []string{"*.example.com"}}
	b.ReportAllocs()
	for b.Loop() {
		server, client := net.Pipe()
		done := make(chan error, 1)
		go func() {
			if _, err := client.Write(req); err != nil {
				done <- err
				return
			}
			resp, err := http.ReadResponse(bufio.NewReader(client), nil)
			if err == nil && resp.StatusCode != http.StatusSwitchingProtocols {
				err = io.ErrUnexpectedEOF
			}
			done <- err
		}()
		if _, err := Upgrade(server, cfg); err != nil {
			b.Fatal(err)
		}
		if err := <-done; err != nil {
			b.Fatal(err)
		}
		server.Close()
		client.Close()
	}
}

// BenchmarkUpgradeMem isolates Upgrade's own cost from net.Pipe's.
func BenchmarkUpgradeMem(b *testing.B) {
	req := []byte(validRequest("/ws?room=1", "Origin: https://app.example.com\r\nCookie: session=0123456789abcdef\r\nUser-Agent: bench\r\n"))
	cfg := &UpgradeConfig{AllowedOrigins: []string{"*.example.com"}}
	conn := &memConn{in: bytes.NewReader(req)}
	b.ReportAllocs()
	for b.Loop() {
		conn.in.Reset(req)
		conn.out.Reset()
		if _, err := Upgrade(conn, cfg); err != nil {
			b.Fatal(err)
		}
	}
}

// benchmarkReadFrameText reads one masked text frame of size bytes (UTF-8
// with multi-byte code points) delivered in reads of at most chunk bytes,
// as a socket would deliver it.
func benchmarkReadFrameText(b *testing.B, size, chunk int) {
	payload := bytes.Repeat([]byte("aé€😀"), size/10+1)[:size]
	for !utf8.Valid(payload) {
		payload = payload[:len(payload)-1]
	}
	frame := masked(opText, payload)
	in := &memConn{in: bytes.NewReader(frame), chunk: chunk}
	var rd Reader
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		in.in.Reset(frame)
		f, err := rd.ReadFrame(in)
		if err != nil || len(f.Payload) != len(payload) {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadFrameText4KiB(b *testing.B)         { benchmarkReadFrameText(b, 4<<10, 0) }
func BenchmarkReadFrameText64KiB(b *testing.B)        { benchmarkReadFrameText(b, 64<<10, 0) }
func BenchmarkReadFrameText64KiBChunked(b *testing.B) { benchmarkReadFrameText(b, 64<<10, 1460) }
