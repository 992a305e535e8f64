package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTable(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("peak__floor__1.json", `{"conns":1000,"deliveries_per_s":100000,"servers":[{"cpu_us_per_delivery":2}]}`)
	write("peak__gorillahub__1.json", `{"conns":1000,"deliveries_per_s":40000,"servers":[{"cpu_us_per_delivery":5}]}`)
	write("peak__gorillahub__2.json", `{"conns":1000,"deliveries_per_s":60000,"servers":[{"cpu_us_per_delivery":7}]}`)
	write("notes.txt", "ignored")
	var out bytes.Buffer
	if err := run(dir, &out); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	// gorillahub: median of 40000 and 60000 is 50000, half the floor's.
	for _, want := range []string{"## peak", "| floor ", "100000 |   1.00 |     2.00 |", "| gorillahub     |    2 |", "50000 |   0.50 |     1.00 |", "6.000 |   3.00 |     1.00 |"} {
		if !strings.Contains(got, want) {
			t.Errorf("table lacks %q:\n%s", want, got)
		}
	}
	if err := run(t.TempDir(), &out); err == nil {
		t.Fatal("empty directory accepted")
	}
}
