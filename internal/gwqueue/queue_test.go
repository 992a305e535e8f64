package gwqueue

import (
	"bytes"
	"io"
	"net"
	"testing"
)

func TestPushTakeWriteOrder(t *testing.T) {
	var q Queue
	q.Push([]byte("a"))
	q.Push([]byte("bc"))
	if q.Len() != 2 || q.Bytes() != 3 {
		t.Fatalf("Len, Bytes = %d, %d; want 2, 3", q.Len(), q.Bytes())
	}
	if n := q.Take(); n != 3 {
		t.Fatalf("Take = %d", n)
	}
	if q.Len() != 0 || q.Bytes() != 0 {
		t.Fatal("queue not empty after Take")
	}
	q.Push([]byte("d")) // queued while the batch is written
	var out bytes.Buffer
	if n, err := q.WriteTo(&out); err != nil || n != 3 || out.String() != "abc" {
		t.Fatalf("WriteTo = %d, %v, %q", n, err, out.String())
	}
	q.Done()
	q.Take()
	out.Reset()
	_, _ = q.WriteTo(&out)
	if out.String() != "d" {
		t.Fatalf("second batch = %q", out.String())
	}
}

func TestSharedFrameNotCopied(t *testing.T) {
	frame := []byte("xyz")
	var a, b Queue
	a.Push(frame)
	b.Push(frame)
	a.Take()
	b.Take()
	if &a.batch[0][0] != &frame[0] || &b.batch[0][0] != &frame[0] {
		t.Fatal("frame was copied")
	}
}

func TestWritevOnTCP(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer lis.Close()
	got := make(chan string, 1)
	go func() {
		c, err := lis.Accept()
		if err != nil {
			got <- err.Error()
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- string(b)
	}()
	c, err := net.Dial("tcp", lis.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	var q Queue
	for _, s := range []string{"one ", "two ", "three"} {
		q.Push([]byte(s))
	}
	q.Take()
	if _, err := q.WriteTo(c); err != nil {
		t.Fatal(err)
	}
	q.Done()
	c.Close()
	if s := <-got; s != "one two three" {
		t.Fatalf("peer got %q", s)
	}
}

func TestDoneReusesBacking(t *testing.T) {
	var q Queue
	q.Push([]byte("1"))
	q.Take()
	first := &q.batch[:1][0]
	_, _ = q.WriteTo(io.Discard)
	q.Done()
	q.Push([]byte("2"))
	if &q.frames[:1][0] != first {
		t.Fatal("backing array not reused")
	}
}

func TestDoneDropsLarge(t *testing.T) {
	var q Queue
	for range keepCap + 1 {
		q.Push([]byte("x"))
	}
	q.Take()
	q.Done()
	if q.spare != nil {
		t.Fatal("large batch kept")
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

func BenchmarkPushTakeWrite(b *testing.B) {
	b.ReportAllocs()
	frame := make([]byte, 64)
	var q Queue
	for b.Loop() {
		for range 8 {
			q.Push(frame)
		}
		q.Take()
		_, _ = q.WriteTo(io.Discard)
		q.Done()
	}
}
