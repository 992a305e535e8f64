//go:build linux

package multihost

import (
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// registerMembers reads gatewayworker_register_members from a register's
// admin address; -1 while it does not answer.
func registerMembers(admin string) int {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + admin + "/metrics")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	m := regexp.MustCompile(`(?m)^gatewayworker_register_members (\d+)`).FindSubmatch(b)
	if m == nil {
		return -1
	}
	var n int
	fmt.Sscan(string(m[1]), &n)
	return n
}

// registerReady reports whether a register's /readyz answers 200.
func registerReady(admin string) bool {
	c := http.Client{Timeout: time.Second}
	resp, err := c.Get("http://" + admin + "/readyz")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestRegistersFormAtOnce starts three register processes within one
// second and checks that they are one cluster, each ready, within about a
// second: all at once each joining the two others; and the seed last,
// 500 ms after two registers that join only it (before the join retries,
// those two ran alone until the 10 s rejoin).
//
//	go test -count=5 -v -run TestRegistersFormAtOnce ./internal/multihost/ | grep MEASURE
func TestRegistersFormAtOnce(t *testing.T) {
	if testing.Short() {
		t.Skip("process test: skipped with -short")
	}
	bins := buildBinaries(t)
	t.Run("all_join_all", func(t *testing.T) {
		formRegisters(t, bins, "registers_formed_all_at_once", func(i int, gossip []string) ([]string, time.Duration) {
			return append(slices.Clone(gossip[:i]), gossip[i+1:]...), 0
		})
	})
	t.Run("seed_last", func(t *testing.T) {
		formRegisters(t, bins, "registers_formed_after_seed", func(i int, gossip []string) ([]string, time.Duration) {
			if i == 0 {
				return nil, 500 * time.Millisecond // the seed
			}
			return gossip[:1], 0
		})
	})
}

// formRegisters starts three registers, register i with the join list and
// after the delay plan returns, and waits until they are one ready cluster;
// it measures the time from the last start.
func formRegisters(t *testing.T, bins binaries, name string, plan func(i int, gossip []string) ([]string, time.Duration)) {
	c := newCluster(t, "formation-secret")
	grpcAddrs, gossipAddrs, admins := freeLoopbackPorts(t, 3), freeLoopbackPorts(t, 3), freeLoopbackPorts(t, 3)
	start := time.Now()
	var last time.Time
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i := range 3 {
		join, delay := plan(i, gossipAddrs)
		args := []string{"register", "--listen", grpcAddrs[i], "--gossip", gossipAddrs[i], "--name", fmt.Sprintf("r%d", i+1), "--admin", admins[i]}
		if len(join) > 0 {
			args = append(args, "--join", strings.Join(join, ","))
		}
		wg.Go(func() {
			time.Sleep(delay)
			mu.Lock()
			defer mu.Unlock()
			c.run(fmt.Sprintf("r%d", i+1), exec.Command(bins.gatewayworker, args...))
			last = time.Now()
		})
	}
	wg.Wait()
	deadline := time.Now().Add(15 * time.Second)
	for {
		formed := true
		for _, a := range admins {
			if registerMembers(a) != 3 || !registerReady(a) {
				formed = false
			}
		}
		if formed {
			break
		}
		if time.Now().After(deadline) {
			for _, a := range admins {
				t.Logf("%s: members %d ready %v", a, registerMembers(a), registerReady(a))
			}
			t.Fatal("three registers started within a second are not one ready cluster within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	took := time.Since(last)
	t.Logf("started over %v", last.Sub(start).Round(time.Millisecond))
	measure(t, name, took)
	if took > 2*time.Second {
		t.Errorf("formation took %v after the last register started, want about a second", took)
	}
}
