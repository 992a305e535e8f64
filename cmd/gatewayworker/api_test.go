package main

import (
	"bytes"
	"context"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/testcluster"
)

func TestAPICommand(t *testing.T) {
	f := newPushFixture(t)
	if code, _, errs := f.run(nil, "api", "--listen", "127.0.0.1:0"); code != 2 || !strings.Contains(errs, "--secret") {
		t.Fatalf("without a secret: exit %d: %s", code, errs)
	}

	ctx, cancel := context.WithCancel(context.Background())
	var stderr lockedBuffer
	done := make(chan int, 1)
	go func() {
		done <- run(ctx, []string{"api", "--listen", "127.0.0.1:0", "--register", f.cluster.Register},
			&bytes.Buffer{}, &stderr, func(k string) string {
				if k == "GW_SECRET" {
					return pushTestSecret
				}
				return ""
			})
	}()
	defer func() {
		cancel()
		select {
		case code := <-done:
			if code != 0 {
				t.Errorf("api exit %d: %s", code, stderr.String())
			}
		case <-time.After(10 * time.Second):
			t.Error("api did not stop")
		}
	}()
	addrRE := regexp.MustCompile(`msg="api listening" addr=(\S+)`)
	var addr string
	testcluster.WaitFor(t, "api listening", func() bool {
		if m := addrRE.FindStringSubmatch(stderr.String()); m != nil {
			addr = m[1]
		}
		return addr != ""
	})
	post := func(token, body string) int {
		t.Helper()
		req, _ := http.NewRequest("POST", "http://"+addr+"/v1/send-to-client", strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	body := `{"client_id":"` + f.ids["b"] + `","text":"over http"}`
	if code := post("", body); code != http.StatusUnauthorized {
		t.Fatalf("no token: %d", code)
	}
	if code := post("nope", body); code != http.StatusUnauthorized {
		t.Fatalf("wrong token: %d", code)
	}
	if code := post(pushTestSecret, body); code != http.StatusOK {
		t.Fatalf("right token: %d", code)
	}
	f.expect("b", "over http")
}
