package main

import (
	"bufio"
	"encoding/json"
	"net"
	"regexp"
	"slices"
	"testing"
	"time"
)

// register --gatewayworker-listen lists the addresses of the gateways
// started with --gatewayworker-lan, to peers sending the secret (--secret,
// GW_SECRET) as secret_key.
func TestGatewayWorkerFlags(t *testing.T) {
	env := map[string]string{"GW_SECRET": "php-secret"}
	reg := runRegisterCmd(t, env, "--listen", "127.0.0.1:0", "--gossip", "", "--gatewayworker-listen", "127.0.0.1:0")
	regAddr := waitLog(t, reg, regexp.MustCompile(`msg="register listening" addr=(127\.0\.0\.1:\d+)`))[1]
	phpReg := waitLog(t, reg, regexp.MustCompile(`msg="gatewayworker register listening" .*addr=(127\.0\.0\.1:\d+)`))[1]
	gw := runCmd(t, env, "gateway", "--listen", "127.0.0.1:0", "--lan", "127.0.0.1:0", "--register", regAddr, "--gatewayworker-lan", "127.0.0.1:0")
	compat := waitLog(t, gw, regexp.MustCompile(`msg="gatewayworker listener serving" .*advertise=(127\.0\.0\.1:\d+)`))[1]

	ask := func(secret string) ([]string, error) {
		nc, err := net.DialTimeout("tcp", phpReg, 5*time.Second)
		if err != nil {
			return nil, err
		}
		defer nc.Close()
		_ = nc.SetDeadline(time.Now().Add(5 * time.Second))
		b, _ := json.Marshal(map[string]string{"event": "worker_connect", "secret_key": secret})
		if _, err := nc.Write(append(b, '\n')); err != nil {
			return nil, err
		}
		line, err := bufio.NewReader(nc).ReadBytes('\n')
		if err != nil {
			return nil, err
		}
		var m struct {
			Addresses []string `json:"addresses"`
		}
		return m.Addresses, json.Unmarshal(line, &m)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		addrs, err := ask("php-secret")
		if err == nil && slices.Equal(addrs, []string{compat}) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("register lists %v (%v), want [%s]", addrs, err, compat)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if addrs, err := ask("wrong"); err == nil {
		t.Fatalf("wrong secret_key answered %v", addrs)
	}
}

func TestGatewayWorkerFlagErrors(t *testing.T) {
	for name, args := range map[string][]string{
		"unroutable advertise": {"gateway", "--listen", "127.0.0.1:0", "--lan", "127.0.0.1:0", "--register", "", "--gatewayworker-lan", "127.0.0.1:0", "--gatewayworker-advertise", "0.0.0.0:2901"},
		"bad listen":           {"register", "--listen", "127.0.0.1:0", "--gossip", "", "--gatewayworker-listen", "nope"},
	} {
		out := &lockedBuffer{}
		if code := run(t.Context(), args, out, out, func(string) string { return "" }); code == 0 {
			t.Errorf("%s: exit 0\n%s", name, out)
		}
	}
}
