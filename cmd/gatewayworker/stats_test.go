package main

import (
	"context"
	"regexp"
	"strings"
	"testing"
)

func TestStatsCommand(t *testing.T) {
	f := newPushFixture(t)
	ctx := context.Background()
	if err := f.api.JoinGroup(ctx, f.ids["a"], "room"); err != nil {
		t.Fatal(err)
	}
	if err := f.api.JoinGroup(ctx, f.ids["b"], "room"); err != nil {
		t.Fatal(err)
	}
	if err := f.api.BindUID(ctx, f.ids["b"], "u"); err != nil {
		t.Fatal(err)
	}
	if err := f.api.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	code, out, errs := f.run(nil, "stats", "--secret", pushTestSecret)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errs)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 4 || !strings.HasPrefix(lines[0], "GATEWAY") {
		t.Fatalf("want a header, 2 gateways and a total:\n%s", out)
	}
	// Per gateway: 1 client, 1 group, 1 worker, no other push client.
	row := regexp.MustCompile(`^[0-9a-f]{16}\s+g[12]\s+\S+\s+\S+\s+1\s+1\s+[01]\s+1\s+1$`)
	for _, l := range lines[1:3] {
		if !row.MatchString(l) {
			t.Fatalf("row %q", l)
		}
	}
	// Totals: 2 clients, the group and the uid counted once, 1 worker.
	if !regexp.MustCompile(`^total \(2 gateways\)\s+2\s+1\s+1\s+1$`).MatchString(lines[3]) {
		t.Fatalf("total %q", lines[3])
	}
}
