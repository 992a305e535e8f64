package register

import (
	"bytes"
	"log/slog"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// A register with another gossip key is refused, the refusal is logged at
// warn level, and it never appears in the membership.
func TestClusterRefusesWrongKey(t *testing.T) {
	logs := new(lockedBuffer)
	sA, err := NewClusterStore(ClusterConfig{
		Name: "A", BindAddr: "127.0.0.1:0", SecretKey: KeyFromSecret("test secret"),
		GossipInterval: 20 * time.Millisecond, ProbeInterval: 100 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn})),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sA.Close() })
	sB := newClusterStore(t, "B", sA.Addr()) // same key: a member
	waitFor(t, 5*time.Second, "cluster of 2", func() bool { return len(sA.Members()) == 2 })
	for _, key := range [][]byte{nil, KeyFromSecret("wrong")} {
		s, err := NewClusterStore(ClusterConfig{Name: "C", BindAddr: "127.0.0.1:0", Join: []string{sA.Addr()}, SecretKey: key})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		if m := s.Members(); !slices.Equal(m, []string{"C"}) {
			t.Fatalf("intruder sees %v", m)
		}
	}
	waitFor(t, 5*time.Second, "refusal logged", func() bool {
		return strings.Contains(logs.String(), "level=WARN") && strings.Contains(logs.String(), "gossip:")
	})
	// Give gossip time to spread anything it would.
	deadline := time.Now().Add(500 * time.Millisecond)
	for time.Now().Before(deadline) {
		if m := sA.Members(); !slices.Equal(m, []string{"A", "B"}) {
			t.Fatalf("A's membership %v, want A and B", m)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if m := sB.Members(); slices.Contains(m, "C") {
		t.Fatalf("B's membership %v holds the intruder", m)
	}
}

func TestMemberlistWriterLevels(t *testing.T) {
	logs := new(lockedBuffer)
	l := memberlistLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	l.Print("[ERR] memberlist: failed to receive: no installed keys could decrypt the message")
	l.Print("[DEBUG] memberlist: stream connection")
	out := logs.String()
	if !strings.Contains(out, `level=WARN msg="gossip: failed to receive`) || !strings.Contains(out, `level=DEBUG msg="gossip: stream connection"`) {
		t.Fatalf("memberlist lines mapped to:\n%s", out)
	}
}

// Registers that started alone (the one to join was not up yet) merge once
// it is: the join addresses are retried.
func TestClusterRejoins(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addrA := l.Addr().String()
	l.Close()
	cfg := func(name, bind string, join ...string) ClusterConfig {
		return ClusterConfig{Name: name, BindAddr: bind, Join: join, SecretKey: KeyFromSecret("test secret"),
			GossipInterval: 20 * time.Millisecond, ProbeInterval: 100 * time.Millisecond, RejoinInterval: 100 * time.Millisecond}
	}
	sB, err := NewClusterStore(cfg("B", "127.0.0.1:0", addrA))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sB.Close() })
	if m := sB.Members(); len(m) != 1 {
		t.Fatalf("B members %v before A exists", m)
	}
	sA, err := NewClusterStore(cfg("A", addrA))
	if err != nil {
		t.Skipf("port %s taken meanwhile: %v", addrA, err)
	}
	t.Cleanup(func() { sA.Close() })
	waitFor(t, 5*time.Second, "A and B merged", func() bool { return len(sA.Members()) == 2 && len(sB.Members()) == 2 })
}
