//go:build linux

package netns

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

// helperEnv selects a helper mode: the test binary, re-executed on a host
// with "ip netns exec", plays a small program there instead of running the
// tests (the os/exec helper-process pattern). The test process itself
// stays in the root namespace.
const helperEnv = "GWNS_TEST_HELPER"

func TestMain(m *testing.M) {
	if mode := os.Getenv(helperEnv); mode != "" {
		os.Exit(runHelper(mode, os.Args[1:], os.Stdin, os.Stdout))
	}
	goleak.VerifyTestMain(m)
}

// runHelper runs one helper mode and returns the exit code.
//
//	echo ADDR          listen on ADDR, print "listening", echo every
//	                   connection, exit when stdin closes
//	dial ADDR TIMEOUT  dial ADDR, send a line, print a dialResult as JSON
//	sleep              print "ready", exit when stdin closes
func runHelper(mode string, args []string, stdin io.Reader, stdout io.Writer) int {
	switch {
	case mode == "echo" && len(args) == 1:
		return helperEcho(args[0], stdin, stdout)
	case mode == "dial" && len(args) == 2:
		timeout, err := time.ParseDuration(args[1])
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 2
		}
		json.NewEncoder(stdout).Encode(helperDial(args[0], timeout))
		return 0
	case mode == "sleep" && len(args) == 0:
		fmt.Fprintln(stdout, "ready")
		io.Copy(io.Discard, stdin)
		return 0
	}
	fmt.Fprintf(os.Stderr, "bad helper mode %q %q\n", mode, args)
	return 2
}

func helperEcho(addr string, stdin io.Reader, stdout io.Writer) int {
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Fprintln(stdout, "listening", lis.Addr())
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		conns = map[net.Conn]bool{}
		done  bool
	)
	wg.Go(func() {
		for {
			c, err := lis.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			if done {
				mu.Unlock()
				c.Close()
				return
			}
			conns[c] = true
			mu.Unlock()
			wg.Go(func() {
				io.Copy(c, c)
				c.Close()
			})
		}
	})
	io.Copy(io.Discard, stdin)
	lis.Close()
	mu.Lock()
	done = true
	for c := range conns {
		c.Close()
	}
	mu.Unlock()
	wg.Wait()
	return 0
}

// dialResult is what the dial helper prints.
type dialResult struct {
	OK   bool   `json:"ok"`
	Echo string `json:"echo,omitempty"`
	Err  string `json:"err,omitempty"`
	MS   int64  `json:"ms"`
}

func helperDial(addr string, timeout time.Duration) dialResult {
	start := time.Now()
	res := func(err error, echo string) dialResult {
		r := dialResult{OK: err == nil, Echo: echo, MS: time.Since(start).Milliseconds()}
		if err != nil {
			r.Err = err.Error()
		}
		return r
	}
	c, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return res(err, "")
	}
	defer c.Close()
	c.SetDeadline(start.Add(timeout))
	if _, err := io.WriteString(c, "hello\n"); err != nil {
		return res(err, "")
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	return res(err, line)
}
