package loadgen

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestWorkerLifecycle(t *testing.T) {
	srv := startTestServer(t, nil)
	w, err := NewWorker(WorkerConfig{URL: srv.url(), Conns: 4, Senders: 1, Rate: 100})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := w.Connect(ctx); err != nil {
		t.Fatal(err)
	}
	if err := w.Connect(ctx); !errors.Is(err, ErrInvalidConfig) {
		t.Fatalf("second Connect: %v", err)
	}
	if got := w.OpenConns(); got != 4 {
		t.Fatalf("open conns %d", got)
	}
	srv.waitConns(t, 4)
	now := w.Clock().Now()
	win := Window{Start: now, MeasureStart: now, MeasureEnd: now + int64(200*time.Millisecond)}
	if err := w.Run(ctx, win); err != nil {
		t.Fatal(err)
	}
	st := w.Stats(true)
	if st.SentMeasured == 0 || st.Delivered != st.SentMeasured*4 || st.Latency.Count() != st.Delivered {
		t.Fatalf("stats %+v", st)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := w.Run(ctx, win); !errors.Is(err, ErrClosed) {
		t.Fatalf("Run after Close: %v", err)
	}
	if st := w.Stats(false); st.Disconnects != 0 {
		t.Fatalf("closing counted %d disconnects", st.Disconnects)
	}
}

func TestWorkerCountsServerClose(t *testing.T) {
	srv := startTestServer(t, nil)
	w, err := NewWorker(WorkerConfig{URL: srv.url(), Conns: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = w.Close() }()
	if err := w.Connect(context.Background()); err != nil {
		t.Fatal(err)
	}
	srv.close()
	deadline := time.Now().Add(5 * time.Second)
	for w.Stats(false).Disconnects != 3 {
		if time.Now().After(deadline) {
			t.Fatalf("disconnects %d, want 3", w.Stats(false).Disconnects)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if w.OpenConns() != 0 {
		t.Fatalf("open conns %d after the server closed", w.OpenConns())
	}
}
