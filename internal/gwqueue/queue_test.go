package gwqueue

import (
	"bytes"
	"io"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"
)

func TestPushFillWriteOrder(t *testing.T) {
	var q Queue
	q.Push([]byte("a"))
	q.Push([]byte("bc"))
	if q.Len() != 2 || q.Bytes() != 3 {
		t.Fatalf("Len, Bytes = %d, %d; want 2, 3", q.Len(), q.Bytes())
	}
	var b Batch
	if n := b.Fill(&q); n != 3 || b.Len() != 3 {
		t.Fatalf("Fill = %d, Len = %d", n, b.Len())
	}
	if q.Len() != 0 || q.Bytes() != 0 {
		t.Fatal("queue not empty after Fill")
	}
	q.Push([]byte("d")) // queued while the batch is written
	var out bytes.Buffer
	if n, err := b.WriteTo(&out); err != nil || n != 3 || out.String() != "abc" || b.Len() != 0 {
		t.Fatalf("WriteTo = %d, %v, %q, left %d", n, err, out.String(), b.Len())
	}
	b.Reset()
	b.Fill(&q)
	out.Reset()
	_, _ = b.WriteTo(&out)
	if out.String() != "d" {
		t.Fatalf("second batch = %q", out.String())
	}
}

func TestSharedFrameNotCopied(t *testing.T) {
	frame := []byte("xyz")
	var a, b Queue
	a.Push(frame)
	b.Push(frame)
	var ba, bb Batch
	ba.Fill(&a)
	bb.Fill(&b)
	if &ba.bufs[0][0] != &frame[0] || &bb.bufs[0][0] != &frame[0] {
		t.Fatal("frame was copied")
	}
}

// The first frame lives inside the Queue: pushing to an idle queue does not
// allocate, and a queue that held one frame keeps nothing on the heap.
func TestSingleFrameInline(t *testing.T) {
	var q Queue
	var b Batch
	frame := []byte("x")
	b.Fill(&q) // warm the batch
	b.Reset()
	allocs := testing.AllocsPerRun(100, func() {
		q.Push(frame)
		b.Fill(&q)
		b.Reset()
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per single-frame push and fill", allocs)
	}
	if size := unsafe.Sizeof(q); size > 56 {
		t.Fatalf("Queue is %d bytes", size)
	}
}

func TestTakeDropsLarge(t *testing.T) {
	var q Queue
	for range keepCap + 1 {
		q.Push([]byte("x"))
	}
	var b Batch
	b.Fill(&q)
	if q.frames != nil {
		t.Fatal("large frame list kept")
	}
	for range keepCap {
		q.Push([]byte("x"))
	}
	b.Fill(&q)
	if cap(q.frames) == 0 || cap(q.frames) > keepCap {
		t.Fatalf("frame list of cap %d not kept", cap(q.frames))
	}
}

func TestReset(t *testing.T) {
	var q Queue
	q.Push([]byte("x"))
	q.Reset()
	if q.Len() != 0 || q.Bytes() != 0 || q.frames != nil {
		t.Fatal("Reset left state")
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (client, server *net.TCPConn) {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		c, _ := lis.Accept()
		accepted <- c
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { _ = c.Close(); _ = s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// writeNonblock runs b.WriteNonblock on c's socket as the gateway does.
func writeNonblock(t *testing.T, c syscall.Conn, b *Batch) {
	t.Helper()
	rc, err := c.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var werr error
	if err := rc.Write(func(fd uintptr) bool { werr = b.WriteNonblock(int(fd)); return true }); err != nil {
		t.Fatal(err)
	}
	if werr != nil {
		t.Fatal(werr)
	}
}

func TestWriteNonblockOnTCP(t *testing.T) {
	c, s := tcpPair(t)
	var q Queue
	for _, s := range []string{"one ", "", "two ", "three"} {
		q.Push([]byte(s))
	}
	var b Batch
	b.Fill(&q)
	writeNonblock(t, c, &b)
	if b.Len() != 0 {
		t.Fatalf("%d bytes left on an empty socket", b.Len())
	}
	_ = c.CloseWrite()
	got, err := io.ReadAll(s)
	if err != nil || string(got) != "one two three" {
		t.Fatalf("peer got %q, %v", got, err)
	}
}

// A socket whose peer does not read fills up: WriteNonblock returns at
// once with the rest in the batch, and WriteTo finishes it in order once
// the peer reads.
func TestWriteNonblockFullSocket(t *testing.T) {
	c, s := tcpPair(t)
	_ = c.SetWriteBuffer(16 << 10)
	_ = s.SetReadBuffer(16 << 10)
	frame := []byte(strings.Repeat("0123456789abcdef", 4096)) // 64 KiB
	var q Queue
	const frames = 64 // 4 MiB: more than the socket buffers hold
	for range frames {
		q.Push(frame)
	}
	var b Batch
	b.Fill(&q)
	start := time.Now()
	writeNonblock(t, c, &b)
	if b.Len() == 0 {
		t.Fatal("4 MiB taken by a socket nobody reads")
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("WriteNonblock waited %v", d)
	}
	got := make(chan int, 1)
	go func() {
		n, _ := io.Copy(io.Discard, s)
		got <- int(n)
	}()
	if _, err := b.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	_ = c.CloseWrite()
	if n := <-got; n != frames*len(frame) {
		t.Fatalf("peer got %d bytes, want %d", n, frames*len(frame))
	}
}

func TestWriteNonblockClosedPeer(t *testing.T) {
	c, s := tcpPair(t)
	_ = s.SetLinger(0)
	_ = s.Close()
	frame := make([]byte, 1<<10)
	var b Batch
	var werr error
	rc, _ := c.SyscallConn()
	deadline := time.Now().Add(5 * time.Second)
	for werr == nil && time.Now().Before(deadline) {
		var q Queue
		q.Push(frame)
		b.Reset()
		b.Fill(&q)
		_ = rc.Write(func(fd uintptr) bool { werr = b.WriteNonblock(int(fd)); return true })
	}
	if werr == nil {
		t.Fatal("no error writing to a reset connection")
	}
}

func BenchmarkPushFillWriteNonblock(b *testing.B) {
	null, err := openNull()
	if err != nil {
		b.Fatal(err)
	}
	defer null.Close()
	rc, err := null.SyscallConn()
	if err != nil {
		b.Fatal(err)
	}
	frame := make([]byte, 64)
	var q Queue
	var batch Batch
	var werr error
	write := func(fd uintptr) bool { werr = batch.WriteNonblock(int(fd)); return true }
	b.ReportAllocs()
	for b.Loop() {
		for range 8 {
			q.Push(frame)
		}
		batch.Fill(&q)
		if err := rc.Write(write); err != nil || werr != nil {
			b.Fatal(err, werr)
		}
		batch.Reset()
	}
}
func openNull() (*os.File, error) { return os.OpenFile(os.DevNull, os.O_WRONLY, 0) }
