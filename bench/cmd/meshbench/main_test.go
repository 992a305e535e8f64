package main

import (
	"net"
	"net/http"
	"testing"
)

func TestMetricAndGoroutines(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("/metrics", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("# HELP x\nx_links{kind=\"push\"} 1\nx_links{kind=\"worker\"} 16\nx_links_total 3\n"))
	})
	mux.HandleFunc("/debug/pprof/goroutine", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("goroutine profile: total 42\n1 @ 0x1\n"))
	})
	srv := &http.Server{Handler: mux}
	go func() { _ = srv.Serve(lis) }()
	defer srv.Close()
	a := lis.Addr().String()
	if v, err := metric(a, `x_links{kind="worker"}`); err != nil || v != 16 {
		t.Fatalf("metric: %v %v", v, err)
	}
	if _, err := metric(a, "x_links"); err == nil {
		t.Fatal("x_links matched a longer name")
	}
	if !allEqual([]string{a, a}, `x_links{kind="worker"}`, 16) || allEqual([]string{a}, `x_links{kind="worker"}`, 15) {
		t.Fatal("allEqual")
	}
	if n, err := goroutines(a); err != nil || n != 42 {
		t.Fatalf("goroutines: %v %v", n, err)
	}
}

func TestWorkerSlope(t *testing.T) {
	rs := []*result{{Gateways: 16, WorkerRSSMB: 20, WorkerGoroutines: 200}, {Gateways: 4, WorkerRSSMB: 18, WorkerGoroutines: 92}, nil}
	kb, gor, ok := workerSlope(rs)
	if !ok || kb != 2*1024/12.0 || gor != 9 {
		t.Fatalf("slope %v %v %v", kb, gor, ok)
	}
	if _, _, ok := workerSlope(rs[:1]); ok {
		t.Fatal("one size gave a slope")
	}
}
