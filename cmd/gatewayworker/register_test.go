package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/tlsconf/tlsconftest"
)

// runRegisterCmd runs "register args..." in-process until the test ends.
func runRegisterCmd(t *testing.T, env map[string]string, args ...string) *lockedBuffer {
	t.Helper()
	return runCmd(t, env, append([]string{"register"}, args...)...)
}

// runCmd runs a subcommand in-process until the test ends, when it must
// exit 0.
func runCmd(t *testing.T, env map[string]string, args ...string) *lockedBuffer {
	t.Helper()
	out := &lockedBuffer{}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, args, out, out, func(k string) string { return env[k] })
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("%s exited with %d:\n%s", args[0], code, out)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("%s did not stop:\n%s", args[0], out)
		}
	})
	return out
}

func waitLog(t *testing.T, out *lockedBuffer, re *regexp.Regexp) []string {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if m := re.FindStringSubmatch(out.String()); m != nil {
			return m
		}
		if time.Now().After(deadline) {
			t.Fatalf("no log line matching %s in:\n%s", re, out)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Registers started with --gossip and --join form one cluster keyed by the
// secret (GW_SECRET); one with another secret stays out.
func TestRegisterCluster(t *testing.T) {
	secret := map[string]string{"GW_SECRET": "cmd-secret"}
	r1 := runRegisterCmd(t, secret, "--listen", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--name", "r1")
	gossip := waitLog(t, r1, regexp.MustCompile(`msg="register gossiping" gossip=(127\.0\.0\.1:\d+)`))[1]
	r2 := runRegisterCmd(t, secret, "--listen", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--join", gossip, "--name", "r2")
	m := waitLog(t, r2, regexp.MustCompile(`msg="joined the register cluster" .* members="\[([^\]]*)\]"`))[1]
	if m != "r1 r2" {
		t.Fatalf("r2 members %q, want r1 and r2", m)
	}
	bad := runRegisterCmd(t, map[string]string{"GW_SECRET": "other"}, "--listen", "127.0.0.1:0", "--gossip", "127.0.0.1:0", "--join", gossip, "--join-timeout", "500ms", "--name", "bad")
	waitLog(t, bad, regexp.MustCompile(`joined no register, starting alone`))
	waitLog(t, r1, regexp.MustCompile(`level=WARN msg="gossip: `)) // the refusal, on r1's side
}

func TestRegisterFlagErrors(t *testing.T) {
	ca := tlsconftest.NewCA(t, "ca")
	id := ca.Issue("register")
	for name, args := range map[string][]string{
		"join without gossip": {"--gossip", "", "--join", "127.0.0.1:7946"},
		"cert without key":    {"--tls-cert", id.CertFile, "--tls-ca", id.CAFile},
		"bad ca":              {"--tls-cert", id.CertFile, "--tls-key", id.KeyFile, "--tls-ca", id.KeyFile},
	} {
		out := &lockedBuffer{}
		args = append([]string{"register", "--listen", "127.0.0.1:0", "--gossip", ""}, args...)
		if code := run(context.Background(), args, out, out, func(string) string { return "" }); code != 2 {
			t.Errorf("%s: exit %d, want 2:\n%s", name, code, out)
		}
	}
	out := &lockedBuffer{}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	args := []string{"register", "--listen", "127.0.0.1:0", "--gossip", "", "--tls-cert", id.CertFile, "--tls-key", id.KeyFile, "--tls-ca", id.CAFile}
	if code := run(ctx, args, out, out, func(string) string { return "" }); code != 0 || !strings.Contains(out.String(), "mtls=true") {
		t.Fatalf("register with mTLS: exit %d:\n%s", code, out)
	}
}

// The register, the gateway's LAN side and a push command, all with mTLS
// from their flags: the command reaches the gateway; without a certificate
// it does not.
func TestInternalMTLSFlags(t *testing.T) {
	ca := tlsconftest.NewCA(t, "cluster")
	env := map[string]string{"GW_SECRET": "mtls-secret"}
	reg, gw, cli := ca.Issue("register"), ca.Issue("gateway"), ca.Issue("cli")
	r := runRegisterCmd(t, env, "--listen", "127.0.0.1:0", "--gossip", "", "--tls-cert", reg.CertFile, "--tls-key", reg.KeyFile, "--tls-ca", reg.CAFile)
	regAddr := waitLog(t, r, regexp.MustCompile(`msg="register listening" addr=(\S+) mtls=true`))[1]
	g := runCmd(t, env, "gateway", "--listen", "127.0.0.1:0", "--lan", "127.0.0.1:0", "--register", regAddr, "--name", "g1",
		"--lan-tls-cert", gw.CertFile, "--lan-tls-key", gw.KeyFile, "--lan-tls-ca", gw.CAFile)
	waitLog(t, g, regexp.MustCompile(`msg=announced`))

	stats := func(extra ...string) (int, string) {
		out := &lockedBuffer{}
		args := append([]string{"stats", "--register", regAddr, "--timeout", "3s"}, extra...)
		code := run(context.Background(), args, out, out, func(k string) string { return env[k] })
		return code, out.String()
	}
	if code, out := stats("--tls-cert", cli.CertFile, "--tls-key", cli.KeyFile, "--tls-ca", cli.CAFile); code != 0 || !strings.Contains(out, "g1") {
		t.Fatalf("stats over mTLS: exit %d:\n%s", code, out)
	}
	if code, out := stats(); code == 0 || strings.Contains(out, "g1") {
		t.Fatalf("stats without a certificate: exit %d:\n%s", code, out)
	}
	waitLog(t, r, regexp.MustCompile(`internal TLS handshake refused`))
}
