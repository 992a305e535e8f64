package main

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestTableAndPNG(t *testing.T) {
	dir := t.TempDir()
	lines := `{"conns":1000,"gateways":5,"cpu_us_per_delivery":3,"floor_cpu_us_per_delivery":2.5,"kb_per_conn":4,"floor_kb_per_conn":1,"loss":0,"uptime_before":"1.5, 1, 1"}
{"conns":10000,"gateways":5,"cpu_us_per_delivery":2,"floor_cpu_us_per_delivery":2,"kb_per_conn":2,"floor_kb_per_conn":0.8,"loss":0}
{"conns":10000,"gateways":1,"cpu_us_per_delivery":1.5,"floor_cpu_us_per_delivery":1.4,"loss":0}
`
	in := filepath.Join(dir, "points.jsonl")
	if err := os.WriteFile(in, []byte(lines), 0o644); err != nil {
		t.Fatal(err)
	}
	pts, err := readPoints(in)
	if err != nil || len(pts) != 3 {
		t.Fatalf("points %v, %v", pts, err)
	}
	var b bytes.Buffer
	writeTable(&b, pts)
	for _, want := range []string{"| 1000 | 5 | 3.00 (2.50) | 1.20x |", "| 10000 | 1 | 1.50 (1.40) |", "| 1.5 |"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, b.String())
		}
	}
	out := filepath.Join(dir, "p.png")
	if err := writePNG(out, pts); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil || img.Bounds().Dx() != 1500 {
		t.Fatalf("png: %v %v", img.Bounds(), err)
	}
}
