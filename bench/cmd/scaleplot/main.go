// Command scaleplot draws the cost curves of bench/curve.sh: it reads the
// last lines of several bench/scale.sh runs (one JSON object a line), prints
// a Markdown table and writes a PNG with three panels: server CPU per
// delivery against connections, RSS per connection against connections, and
// CPU per delivery against gateway processes; gatewayworker and the floor
// side by side.
//
//	scaleplot --png docs/scale-curves.png POINTS.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	"image/color"
	"image/draw"
	"image/png"
	"io"
	"math"
	"os"
	"sort"

	"golang.org/x/image/font"
	"golang.org/x/image/font/basicfont"
	"golang.org/x/image/math/fixed"
)

// point is one scale.sh run (the fields of its last line used here).
type point struct {
	Conns        float64  `json:"conns"`
	Gateways     float64  `json:"gateways"`
	CPU          *float64 `json:"cpu_us_per_delivery"`
	FloorCPU     *float64 `json:"floor_cpu_us_per_delivery"`
	KB           *float64 `json:"kb_per_conn"`
	FloorKB      *float64 `json:"floor_kb_per_conn"`
	P99          *float64 `json:"p99_ms"`
	FloorP99     *float64 `json:"floor_p99_ms"`
	GroupsCPU    *float64 `json:"groups_cpu_us_per_delivery"`
	FloorGrpCPU  *float64 `json:"floor_groups_cpu_us_per_delivery"`
	Loss         *float64 `json:"loss"`
	DeliveriesPS *float64 `json:"deliveries_per_s"`
	Uptime       string   `json:"uptime_before"`
}

func main() {
	pngPath := flag.String("png", "", "write the plot to this PNG file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: scaleplot [--png FILE] POINTS.jsonl")
		os.Exit(2)
	}
	pts, err := readPoints(flag.Arg(0))
	if err != nil {
		fmt.Fprintln(os.Stderr, "scaleplot:", err)
		os.Exit(1)
	}
	writeTable(os.Stdout, pts)
	if *pngPath != "" {
		if err := writePNG(*pngPath, pts); err != nil {
			fmt.Fprintln(os.Stderr, "scaleplot:", err)
			os.Exit(1)
		}
	}
}

func readPoints(path string) ([]point, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var pts []point
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		var p point
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		pts = append(pts, p)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	if len(pts) == 0 {
		return nil, errors.New("no point")
	}
	sort.Slice(pts, func(i, j int) bool {
		if pts[i].Gateways != pts[j].Gateways {
			return pts[i].Gateways > pts[j].Gateways
		}
		return pts[i].Conns < pts[j].Conns
	})
	return pts, nil
}

func f(v *float64, format string) string {
	if v == nil {
		return "–"
	}
	return fmt.Sprintf(format, *v)
}

func ratio(a, b *float64) string {
	if a == nil || b == nil || *b == 0 {
		return "–"
	}
	return fmt.Sprintf("%.2fx", *a / *b)
}

func writeTable(w io.Writer, pts []point) {
	fmt.Fprintln(w, "| connections | gateways | µs/delivery (floor) | ratio | groups µs/delivery (floor) | KB/conn (floor) | p99 ms (floor) | loss | load (1 min) |")
	fmt.Fprintln(w, "|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	for _, p := range pts {
		load := p.Uptime
		if i := indexByte(load, ','); i >= 0 {
			load = load[:i]
		}
		fmt.Fprintf(w, "| %.0f | %.0f | %s (%s) | %s | %s (%s) | %s (%s) | %s (%s) | %s | %s |\n",
			p.Conns, p.Gateways, f(p.CPU, "%.2f"), f(p.FloorCPU, "%.2f"), ratio(p.CPU, p.FloorCPU),
			f(p.GroupsCPU, "%.2f"), f(p.FloorGrpCPU, "%.2f"),
			f(p.KB, "%.2f"), f(p.FloorKB, "%.2f"), f(p.P99, "%.1f"), f(p.FloorP99, "%.1f"), f(p.Loss, "%.0f"), load)
	}
}

func indexByte(s string, c byte) int {
	for i := range len(s) {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// series is one line of a panel.
type series struct {
	name string
	col  color.RGBA
	xs   []float64
	ys   []float64
}

var (
	blue  = color.RGBA{31, 100, 190, 255}
	grey  = color.RGBA{120, 120, 120, 255}
	green = color.RGBA{40, 150, 70, 255}
	black = color.RGBA{0, 0, 0, 255}
	// lightGreen is the floor's groups series.
	lightGreen = color.RGBA{150, 200, 150, 255}
	light      = color.RGBA{225, 225, 225, 255}
)

func collect(pts []point, keep func(point) bool, x func(point) float64, y func(point) *float64) (xs, ys []float64) {
	for _, p := range pts {
		if !keep(p) || y(p) == nil {
			continue
		}
		xs = append(xs, x(p))
		ys = append(ys, *y(p))
	}
	idx := make([]int, len(xs))
	for i := range idx {
		idx[i] = i
	}
	sort.Slice(idx, func(a, b int) bool { return xs[idx[a]] < xs[idx[b]] })
	sx, sy := make([]float64, len(xs)), make([]float64, len(ys))
	for i, k := range idx {
		sx[i], sy[i] = xs[k], ys[k]
	}
	return sx, sy
}

func writePNG(path string, pts []point) error {
	maxGW := 0.0
	for _, p := range pts {
		maxGW = math.Max(maxGW, p.Gateways)
	}
	// The gateway series: the connection count measured at most gateway
	// counts (the most common one).
	count := map[float64]int{}
	for _, p := range pts {
		count[p.Conns]++
	}
	gwConns, best := 0.0, 0
	for c, n := range count {
		if n > best || (n == best && c < gwConns) {
			gwConns, best = c, n
		}
	}
	atMax := func(p point) bool { return p.Gateways == maxGW }
	atConns := func(p point) bool { return p.Conns == gwConns }
	conns := func(p point) float64 { return p.Conns }
	gws := func(p point) float64 { return p.Gateways }
	mk := func(name string, col color.RGBA, keep func(point) bool, x func(point) float64, y func(point) *float64) series {
		xs, ys := collect(pts, keep, x, y)
		return series{name, col, xs, ys}
	}

	const W, H = 1500, 520
	img := image.NewRGBA(image.Rect(0, 0, W, H))
	draw.Draw(img, img.Bounds(), image.NewUniform(color.White), image.Point{}, draw.Src)
	text(img, 20, 24, black, fmt.Sprintf("gatewayworker (register + %.0f gateways + workers) vs %.0f floor processes, same clients and rates, one 2-core box", maxGW, maxGW))
	panelW := W / 3
	plot(img, image.Rect(0, 40, panelW, H), fmt.Sprintf("server CPU us per delivery (%.0f gateways)", maxGW), "connections (log)", true, []series{
		mk("gatewayworker", blue, atMax, conns, func(p point) *float64 { return p.CPU }),
		mk("floor", grey, atMax, conns, func(p point) *float64 { return p.FloorCPU }),
		mk("gatewayworker, groups", green, atMax, conns, func(p point) *float64 { return p.GroupsCPU }),
		mk("floor, groups", lightGreen, atMax, conns, func(p point) *float64 { return p.FloorGrpCPU }),
	})
	plot(img, image.Rect(panelW, 40, 2*panelW, H), fmt.Sprintf("idle: RSS KB per connection, all processes (%.0f gateways)", maxGW), "connections (log)", true, []series{
		mk("gatewayworker", blue, atMax, conns, func(p point) *float64 { return p.KB }),
		mk("floor", grey, atMax, conns, func(p point) *float64 { return p.FloorKB }),
	})
	plot(img, image.Rect(2*panelW, 40, W, H), fmt.Sprintf("CPU us per delivery at %.0f connections", gwConns), "gateway (floor) processes", false, []series{
		mk("gatewayworker", blue, atConns, gws, func(p point) *float64 { return p.CPU }),
		mk("floor", grey, atConns, gws, func(p point) *float64 { return p.FloorCPU }),
		mk("gatewayworker, groups", green, atConns, gws, func(p point) *float64 { return p.GroupsCPU }),
		mk("floor, groups", lightGreen, atConns, gws, func(p point) *float64 { return p.FloorGrpCPU }),
	})
	out, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := png.Encode(out, img); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

func text(img *image.RGBA, x, y int, col color.Color, s string) {
	d := font.Drawer{Dst: img, Src: image.NewUniform(col), Face: basicfont.Face7x13, Dot: fixed.P(x, y)}
	d.DrawString(s)
}

func textWidth(s string) int {
	return font.MeasureString(basicfont.Face7x13, s).Round()
}

func hline(img *image.RGBA, x0, x1, y int, col color.Color) {
	for x := x0; x <= x1; x++ {
		img.Set(x, y, col)
	}
}

func vline(img *image.RGBA, x, y0, y1 int, col color.Color) {
	for y := y0; y <= y1; y++ {
		img.Set(x, y, col)
	}
}

// line draws a 2-pixel line.
func line(img *image.RGBA, x0, y0, x1, y1 int, col color.Color) {
	n := max(abs(x1-x0), abs(y1-y0), 1)
	for i := 0; i <= n; i++ {
		x := x0 + (x1-x0)*i/n
		y := y0 + (y1-y0)*i/n
		for dx := range 2 {
			for dy := range 2 {
				img.Set(x+dx, y+dy, col)
			}
		}
	}
}

func abs(v int) int {
	if v < 0 {
		return -v
	}
	return v
}

func niceStep(span float64) float64 {
	raw := span / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 2.5, 5, 10} {
		if m*mag >= raw {
			return m * mag
		}
	}
	return 10 * mag
}

func fmtTick(v float64) string {
	switch {
	case v >= 1000 && math.Mod(v, 1000) == 0:
		return fmt.Sprintf("%.0fk", v/1000)
	case v >= 1000:
		return fmt.Sprintf("%.1fk", v/1000)
	case v == math.Trunc(v):
		return fmt.Sprintf("%.0f", v)
	default:
		return fmt.Sprintf("%.2g", v)
	}
}

// plot draws one panel: the y axis starts at 0, the x axis is linear or
// log10; every point gets a marker and its value.
func plot(img *image.RGBA, r image.Rectangle, title, xlabel string, xlog bool, ss []series) {
	text(img, r.Min.X+20, r.Min.Y+18, black, title)
	left, right := r.Min.X+60, r.Max.X-25
	top, bottom := r.Min.Y+40, r.Max.Y-80
	var xmin, xmax, ymax = math.Inf(1), math.Inf(-1), 0.0
	for _, s := range ss {
		for i := range s.xs {
			xmin, xmax = math.Min(xmin, s.xs[i]), math.Max(xmax, s.xs[i])
			ymax = math.Max(ymax, s.ys[i])
		}
	}
	if math.IsInf(xmin, 1) {
		text(img, left, (top+bottom)/2, grey, "no data")
		return
	}
	tx := func(v float64) float64 { return v }
	if xlog {
		tx = math.Log10
	}
	lo, hi := tx(xmin), tx(xmax)
	if hi == lo {
		lo, hi = lo-1, hi+1
	}
	pad := (hi - lo) * 0.06
	lo, hi = lo-pad, hi+pad
	ystep := niceStep(math.Max(ymax*1.15, 1e-9))
	ytop := math.Ceil(ymax*1.15/ystep) * ystep
	px := func(v float64) int { return left + int((tx(v)-lo)/(hi-lo)*float64(right-left)) }
	py := func(v float64) int { return bottom - int(v/ytop*float64(bottom-top)) }

	for v := 0.0; v <= ytop+ystep/2; v += ystep {
		y := py(v)
		hline(img, left, right, y, light)
		l := fmtTick(v)
		text(img, left-8-textWidth(l), y+4, black, l)
	}
	// x ticks at the measured x values.
	seen := map[float64]bool{}
	for _, s := range ss {
		for _, x := range s.xs {
			if seen[x] {
				continue
			}
			seen[x] = true
			X := px(x)
			vline(img, X, top, bottom, light)
			l := fmtTick(x)
			text(img, X-textWidth(l)/2, bottom+16, black, l)
		}
	}
	hline(img, left, right, bottom, black)
	vline(img, left, top, bottom, black)
	text(img, (left+right)/2-textWidth(xlabel)/2, bottom+34, black, xlabel)

	lx, ly := left, bottom+50
	for k, s := range ss {
		for i := range s.xs {
			x, y := px(s.xs[i]), py(s.ys[i])
			if i > 0 {
				line(img, px(s.xs[i-1]), py(s.ys[i-1]), x, y, s.col)
			}
			for dx := -3; dx <= 3; dx++ {
				for dy := -3; dy <= 3; dy++ {
					img.Set(x+dx, y+dy, s.col)
				}
			}
			// Labels of even series above their point, odd ones below.
			l := fmtTick(math.Round(s.ys[i]*100) / 100)
			ty := y - 7
			if k%2 == 1 {
				ty = y + 17
			}
			text(img, x+6, ty, s.col, l)
		}
		// Legend: entries in a row, wrapping.
		w := 22 + textWidth(s.name) + 18
		if lx+w > right && lx > left {
			lx, ly = left, ly+16
		}
		for dy := -3; dy <= 3; dy++ {
			hline(img, lx, lx+16, ly+dy, s.col)
		}
		text(img, lx+22, ly+5, s.col, s.name)
		lx += w
	}
}
