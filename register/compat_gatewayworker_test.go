package register

import (
	"bufio"
	"context"
	"encoding/json"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

func serveGW(t *testing.T, r *Register, cfg GatewayWorkerConfig) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.ServeGatewayWorker(ctx, lis, cfg) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("ServeGatewayWorker: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Error("ServeGatewayWorker did not return")
		}
	})
	return lis.Addr().String()
}

type gwLineConn struct {
	t  *testing.T
	nc net.Conn
	br *bufio.Reader
}

func dialGW(t *testing.T, addr string) *gwLineConn {
	t.Helper()
	nc, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = nc.Close() })
	return &gwLineConn{t: t, nc: nc, br: bufio.NewReader(nc)}
}

func (c *gwLineConn) send(line string) {
	c.t.Helper()
	if _, err := c.nc.Write([]byte(line + "\n")); err != nil {
		c.t.Fatal(err)
	}
}

// addresses reads one broadcast_addresses line.
func (c *gwLineConn) addresses() []string {
	c.t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	line, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	var m struct {
		Event     string   `json:"event"`
		Addresses []string `json:"addresses"`
	}
	if err := json.Unmarshal([]byte(line), &m); err != nil || m.Event != "broadcast_addresses" {
		c.t.Fatalf("bad line %q: %v", line, err)
	}
	return m.Addresses
}

func (c *gwLineConn) closed() bool {
	_ = c.nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	_, err := c.br.ReadByte()
	return err != nil && !strings.Contains(err.Error(), "timeout")
}

func TestGatewayWorkerRegister(t *testing.T) {
	store := NewMemoryStore()
	t.Cleanup(func() { _ = store.Close() })
	r, err := New(Config{Store: store})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveGW(t, r, GatewayWorkerConfig{SecretKey: "k"})

	// A gateway without a compatibility listener is not listed.
	if err := store.Put(&pb.GatewayInfo{NodeId: 1, LanAddr: "127.0.0.1:1"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := store.Put(&pb.GatewayInfo{NodeId: 2, LanAddr: "127.0.0.1:2", GatewayworkerAddr: "127.0.0.1:2900"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	// GatewayClient: asks once (as getAllGatewayAddressesFromRegister).
	w := dialGW(t, addr)
	w.send(`{"event":"worker_connect","secret_key":"k"}`)
	if got := w.addresses(); !slices.Equal(got, []string{"127.0.0.1:2900"}) {
		t.Fatalf("addresses %v", got)
	}
	// A BusinessWorker stays connected: a new gateway is pushed to it.
	if err := store.Put(&pb.GatewayInfo{NodeId: 3, LanAddr: "127.0.0.1:3", GatewayworkerAddr: "127.0.0.1:2901"}, time.Minute); err != nil {
		t.Fatal(err)
	}
	if got := w.addresses(); !slices.Equal(got, []string{"127.0.0.1:2900", "127.0.0.1:2901"}) {
		t.Fatalf("addresses after add %v", got)
	}
	// A PHP Gateway registering here is listed too, and dropped when it goes.
	pg := dialGW(t, addr)
	pg.send(`{"event":"gateway_connect", "address":"10.0.0.9:2000", "secret_key":"k"}`)
	if got := w.addresses(); !slices.Contains(got, "10.0.0.9:2000") || len(got) != 3 {
		t.Fatalf("addresses with PHP gateway %v", got)
	}
	_ = pg.nc.Close()
	if got := w.addresses(); len(got) != 2 {
		t.Fatalf("addresses after PHP gateway left %v", got)
	}
	// Removal.
	if err := store.Delete(2); err != nil {
		t.Fatal(err)
	}
	if got := w.addresses(); !slices.Equal(got, []string{"127.0.0.1:2901"}) {
		t.Fatalf("addresses after delete %v", got)
	}
	// Pings are accepted silently.
	w.send(`{"event":"ping"}`)
	w.send(`{"event":"worker_connect","secret_key":"k"}`)
	if got := w.addresses(); !slices.Equal(got, []string{"127.0.0.1:2901"}) {
		t.Fatalf("addresses after ping %v", got)
	}
}

func TestGatewayWorkerRegisterRefuses(t *testing.T) {
	reg := prometheus.NewRegistry()
	r, err := New(Config{Metrics: reg})
	if err != nil {
		t.Fatal(err)
	}
	addr := serveGW(t, r, GatewayWorkerConfig{SecretKey: "k", AuthTimeout: 200 * time.Millisecond})
	for _, line := range []string{
		`{"event":"worker_connect","secret_key":"wrong"}`,
		`{"event":"worker_connect"}`,
		`{"event":"bogus","secret_key":"k"}`,
		`not json`,
		`{"event":"gateway_connect","secret_key":"k","address":"nope"}`,
		strings.Repeat("x", 70<<10),
	} {
		c := dialGW(t, addr)
		c.send(line)
		if !c.closed() {
			t.Errorf("%.40q: connection left open", line)
		}
	}
	// Silence past AuthTimeout closes the connection.
	c := dialGW(t, addr)
	if !c.closed() {
		t.Error("silent connection left open")
	}
	// Counted: 2 wrong secrets, a bad address, an unknown event, bad JSON.
	refused := 0.0
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "gatewayworker_register_gatewayworker_requests_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "result" && lp.GetValue() == "refused" {
					refused += m.GetCounter().GetValue()
				}
			}
		}
	}
	if refused != 5 {
		t.Errorf("refused requests counted: %v, want 5", refused)
	}
}
