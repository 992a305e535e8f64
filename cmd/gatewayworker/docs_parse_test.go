package main

// The markdown and --help parsers of the docs-flag test (docs_flags_test.go).

import (
	"fmt"
	"path"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/cli"
)

// docCommand is one invocation of one of our programs found in the docs.
type docCommand struct {
	where   string   // file:line
	program string   // "gatewayworker", "gwbench", "examples/chat", ...
	sub     string   // subcommand ("" for the examples)
	flags   []string // flag names, without dashes
}

// ownPrograms maps a package path (as in "go run ./cmd/gatewayworker") to
// the program name the test knows.
func ownProgram(pkg string) (string, bool) {
	pkg = strings.TrimSuffix(strings.TrimPrefix(pkg, "./"), "/")
	switch {
	case pkg == "cmd/gatewayworker" || strings.HasSuffix(pkg, "gatewayworker/cmd/gatewayworker"):
		return "gatewayworker", true
	case pkg == "cmd/gwbench" || strings.HasSuffix(pkg, "gatewayworker/cmd/gwbench"):
		return "gwbench", true
	case strings.HasPrefix(pkg, "examples/") && !strings.Contains(pkg[len("examples/"):], "/"):
		return pkg, true
	}
	return "", false
}

var (
	envAssign = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*=`)
	flagToken = regexp.MustCompile(`^--?([A-Za-z][A-Za-z0-9-]*)(=.*)?$`)
	inlineRe  = regexp.MustCompile("`([^`]+)`")
	fenceRe   = regexp.MustCompile("^\\s*```\\s*([A-Za-z]*)")
)

// commandTexts returns the shell text of a markdown file: each line of its
// fenced blocks (backslash continuations joined), except blocks of a
// language that is not a shell or config (go, php, promql, yaml), and each
// inline code span of the prose (from texts[inline] on). Each text comes
// with its line number.
func commandTexts(md string) (texts []string, lines []int, inline int) {
	var (
		in, skip bool
		prose    []string // prose lines, blank where fenced
		block    []string // lines of the fenced block being read
		first    int      // line number of block[0]
	)
	// endBlock takes the commands of a block: in a transcript (some lines
	// start with "$ "), only those lines; else every line.
	endBlock := func() {
		transcript := slices.ContainsFunc(block, func(l string) bool { return strings.HasPrefix(l, "$ ") })
		cont, contLine := "", 0
		for i, l := range block {
			if transcript {
				if !strings.HasPrefix(l, "$ ") && cont == "" {
					continue
				}
				l = strings.TrimPrefix(l, "$ ")
			}
			if cont == "" {
				contLine = first + i
			}
			if strings.HasSuffix(l, "\\") {
				cont += strings.TrimSuffix(l, "\\") + " "
				continue
			}
			texts, lines = append(texts, cont+l), append(lines, contLine)
			cont = ""
		}
		block = nil
	}
	for i, l := range strings.Split(md, "\n") {
		if m := fenceRe.FindStringSubmatch(l); m != nil {
			if !in {
				in, first = true, i+2
				skip = slices.Contains([]string{"go", "php", "promql", "yaml", "json"}, m[1])
			} else {
				in = false
				if !skip {
					endBlock()
				}
				block = nil
			}
			prose = append(prose, "")
			continue
		}
		if !in {
			prose = append(prose, l)
			continue
		}
		prose = append(prose, "")
		block = append(block, l)
	}
	// Inline spans may wrap: match over paragraphs.
	inline = len(texts)
	var para []string
	start := 0
	flush := func() {
		text := strings.Join(para, "\n")
		for _, m := range inlineRe.FindAllStringSubmatchIndex(text, -1) {
			span := strings.ReplaceAll(text[m[2]:m[3]], "\n", " ")
			texts, lines = append(texts, span), append(lines, start+1+strings.Count(text[:m[0]], "\n"))
		}
		para = nil
	}
	for i, l := range prose {
		if strings.TrimSpace(l) == "" {
			flush()
			continue
		}
		if para == nil {
			start = i
		}
		para = append(para, l)
	}
	flush()
	return texts, lines, inline
}

// shellWords splits one shell line into simple commands and each into
// words, with quotes removed; a word starting with # ends the line.
func shellWords(line string) [][]string {
	var (
		cmds  [][]string
		words []string
		cur   strings.Builder
		have  bool
		quote rune
	)
	word := func() {
		if have {
			words = append(words, cur.String())
		}
		cur.Reset()
		have = false
	}
	end := func() {
		word()
		if len(words) > 0 {
			cmds = append(cmds, words)
		}
		words = nil
	}
	rs := []rune(line)
	for i := 0; i < len(rs); i++ {
		r := rs[i]
		switch {
		case quote != 0:
			if r == quote {
				quote = 0
			} else {
				cur.WriteRune(r)
			}
		case r == '\'' || r == '"':
			quote, have = r, true
		case r == '#' && !have:
			end()
			return cmds
		case r == ' ' || r == '\t':
			word()
		case r == ';' || r == '|' || r == '&' || r == '(' || r == ')':
			end()
		default:
			cur.WriteRune(r)
			have = true
		}
	}
	end()
	return cmds
}

// docCommands finds the invocations of our programs in one markdown file.
// aliases maps binaries built with "go build -o NAME ./pkg" in the file to
// their program.
func docCommands(name, md string, subs map[string][]string) ([]docCommand, []string) {
	var (
		out      []docCommand
		problems []string
		aliases  = map[string]string{}
	)
	texts, lines, _ := commandTexts(md)
	for i, text := range texts {
		where := fmt.Sprintf("%s:%d", name, lines[i])
		for _, words := range shellWords(text) {
			// go build -o NAME ./pkg: NAME runs pkg from now on.
			if len(words) >= 5 && words[0] == "go" && words[1] == "build" {
				if j := slices.Index(words, "-o"); j > 0 && j+1 < len(words) {
					if prog, ok := ownProgram(words[len(words)-1]); ok {
						aliases[path.Base(words[j+1])] = prog
					}
				}
				continue
			}
			prog, rest := findProgram(words, aliases)
			if prog == "" {
				continue
			}
			c := docCommand{where: where, program: prog}
			if want, ok := subs[prog]; ok {
				if len(rest) == 0 || strings.HasPrefix(rest[0], "-") || strings.ContainsAny(rest[0], "<>*|[]") {
					continue // "gatewayworker --help", "gatewayworker <command> --help", "send-to-*"
				}
				if !slices.Contains(want, rest[0]) {
					problems = append(problems, fmt.Sprintf("%s: %s %s: no such subcommand (have %v)", where, prog, rest[0], want))
					continue
				}
				c.sub, rest = rest[0], rest[1:]
			}
			for _, w := range rest {
				w = strings.Trim(w, "[]")
				if m := flagToken.FindStringSubmatch(w); m != nil {
					c.flags = append(c.flags, m[1])
				}
			}
			out = append(out, c)
		}
	}
	return out, problems
}

// findProgram returns the program a command runs and the words after it, or
// "" when it runs none of ours. Environment assignments (GW_SECRET=x, and
// systemd's ExecStart=) may precede it.
func findProgram(words []string, aliases map[string]string) (string, []string) {
	for i := 0; i < len(words); i++ {
		w := words[i]
		if envAssign.MatchString(w) {
			w = w[strings.Index(w, "=")+1:]
			if w == "" || strings.Contains(w, " ") {
				continue
			}
		}
		if w == "go" && i+1 < len(words) && words[i+1] == "run" {
			for j := i + 2; j < len(words); j++ {
				if strings.HasPrefix(words[j], "-") {
					continue // go run's own flags
				}
				if prog, ok := ownProgram(words[j]); ok {
					return prog, words[j+1:]
				}
				return "", nil
			}
			return "", nil
		}
		base := path.Base(w)
		if prog, ok := aliases[base]; ok && w != "./"+base {
			return prog, words[i+1:]
		}
		if (base == "gatewayworker" || base == "gwbench") && !strings.HasSuffix(w, "/") && !strings.HasPrefix(w, ".") {
			return base, words[i+1:]
		}
		if i == 0 && slices.Contains([]string{"sudo", "exec", "nohup", "time", "env"}, w) {
			continue
		}
		if !envAssign.MatchString(words[i]) {
			return "", nil // the command word is not ours
		}
	}
	return "", nil
}

// flagTable is a markdown table of options: the flags of its first column
// and the commands the text before it (since the last heading or table)
// says they belong to.
type flagTable struct {
	where    string
	commands []docCommand // program and sub only
	flags    []string
	defaults []string // per flag: its cell in a "default" column ("" when none)
	rows     []int    // per flag: its line
	defCol   int      // index of the "default" column (0: none)
}

var cellFlagRe = regexp.MustCompile(`^--([A-Za-z][A-Za-z0-9-]*)`)

// flagTables finds the option tables of one markdown file: tables whose
// first column holds `--flag` spans.
func flagTables(name, md string, subs map[string][]string) ([]flagTable, []string) {
	var (
		out      []flagTable
		problems []string
		context  []string // lines since the last heading or table
		cur      *flagTable
		in       bool
	)
	for i, l := range strings.Split(md, "\n") {
		if fenceRe.MatchString(l) {
			in = !in
			context = nil // a code block ends what the text says
			continue
		}
		if in {
			continue
		}
		if !strings.HasPrefix(l, "|") {
			if cur != nil {
				if len(cur.flags) > 0 {
					out = append(out, *cur)
				}
				cur, context = nil, nil
			}
			if strings.HasPrefix(l, "#") {
				context = nil
			} else {
				context = append(context, l)
			}
			continue
		}
		cells := strings.Split(l, "|")
		if cur == nil {
			where := fmt.Sprintf("%s:%d", name, i+1)
			cmds, p := docCommands(name, strings.Join(context, "\n"), subs)
			problems = append(problems, p...)
			cur = &flagTable{where: where, commands: cmds}
			for j, c := range cells {
				if strings.EqualFold(strings.TrimSpace(c), "default") {
					cur.defCol = j
				}
			}
		}
		if len(cells) < 3 {
			continue
		}
		if !strings.HasPrefix(strings.TrimSpace(cells[1]), "`--") {
			continue // not an option row: "(fixed)", or a table of something else
		}
		var flags []string
		for _, m := range inlineRe.FindAllStringSubmatch(cells[1], -1) {
			if f := cellFlagRe.FindStringSubmatch(m[1]); f != nil {
				flags = append(flags, f[1])
			}
		}
		// The default cell: one value per flag ("25s, 2" for two flags);
		// anything else is not checked.
		defaults := make([]string, len(flags))
		if cur.defCol > 0 && cur.defCol < len(cells) {
			cell := strings.TrimSpace(cells[cur.defCol])
			if pieces := strings.Split(cell, ", "); len(flags) == 1 {
				defaults[0] = cell
			} else if len(pieces) == len(flags) {
				copy(defaults, pieces)
			}
		}
		for j := range flags {
			cur.flags = append(cur.flags, flags[j])
			cur.defaults = append(cur.defaults, defaults[j])
			cur.rows = append(cur.rows, i+1)
		}
	}
	if cur != nil && len(cur.flags) > 0 {
		out = append(out, *cur)
	}
	for _, t := range out {
		if len(t.commands) == 0 {
			problems = append(problems, fmt.Sprintf("%s: a table of options that names no command before it (say which, e.g. `gatewayworker gateway`)", t.where))
		}
	}
	return out, problems
}

var proseFlagRe = regexp.MustCompile(`^--([A-Za-z][A-Za-z0-9-]*)(\*)?`)

// proseFlags returns the flags named by inline code spans of the prose
// that start with one ("`--secret`", "`--tls-*`"), as "file:line name";
// a wildcard keeps its trailing "-*".
func proseFlags(name, md string) (where, flags []string) {
	texts, lines, inline := commandTexts(md)
	for i := inline; i < len(texts); i++ {
		if m := proseFlagRe.FindStringSubmatch(texts[i]); m != nil {
			where = append(where, fmt.Sprintf("%s:%d", name, lines[i]))
			flags = append(flags, m[1]+m[2])
		}
	}
	return where, flags
}

var compareFlagRe = regexp.MustCompile(`(?m)^\s+(?:-h\|)?--([a-z][a-z-]*)\)`)

var (
	docValueRe    = regexp.MustCompile(`^(\d+(?:\.\d+)?)\s*(KiB|MiB|GiB|ms|s|m|h)?\b`)
	docAddrRe     = regexp.MustCompile(`^[0-9.]*:\d+$`)
	helpDefaultRe = regexp.MustCompile(`(?m)^\s+--([A-Za-z][A-Za-z0-9-]*)\n\s+\t.*?(?:\(default ([^()]*?), env GW_[A-Z0-9_]+\)|\(env GW_[A-Z0-9_]+\))$`)
)

// docDefault reads the value a table's default cell gives: "10s", "1 MiB",
// "0 (no limit)", "empty", "off", "`127.0.0.1:7946`". ok is false for a
// cell it cannot read ("= max message size", "at least 1"), which is not
// checked.
func docDefault(cell string) (v string, ok bool) {
	cell = strings.TrimSpace(strings.ReplaceAll(cell, "`", ""))
	if before, _, found := strings.Cut(cell, " ("); found {
		cell = before
	}
	if before, _, found := strings.Cut(cell, ";"); found {
		cell = before
	}
	switch word, _, _ := strings.Cut(cell, " "); word {
	case "empty", "none":
		return "", true
	case "off":
		return "false", true
	case "on":
		return "true", true
	}
	if docAddrRe.MatchString(cell) {
		return cell, true
	}
	if m := docValueRe.FindStringSubmatch(cell); m != nil {
		return m[1] + m[2], true
	}
	return "", false
}

// sameDefault compares a documented default with the one --help prints,
// as durations or sizes when both read as such ("1m" and "1m0s").
func sameDefault(doc, help string) bool {
	if doc == help {
		return true
	}
	if doc == "false" && (help == "" || help == "0") { // "off" for a number or list: 0 or none
		return true
	}
	if a, err := time.ParseDuration(doc); err == nil {
		if b, err := time.ParseDuration(help); err == nil {
			return a == b
		}
	}
	if a, err := cli.ParseSize(doc); err == nil {
		if b, err := cli.ParseSize(help); err == nil {
			return a == b
		}
	}
	return false
}

// helpDefaults returns the default each flag of a gatewayworker --help text
// prints ("" when none).
func helpDefaults(help string) map[string]string {
	out := map[string]string{}
	for _, m := range helpDefaultRe.FindAllStringSubmatch(help, -1) {
		out[m[1]] = m[2]
	}
	return out
}

var helpFlagRe = regexp.MustCompile(`(?m)^\s+--?([A-Za-z][A-Za-z0-9-]*)`)

// helpFlags returns the flags a --help text lists, plus h and help.
func helpFlags(help string) map[string]bool {
	out := map[string]bool{"h": true, "help": true}
	for _, m := range helpFlagRe.FindAllStringSubmatch(help, -1) {
		out[m[1]] = true
	}
	return out
}

// TestDocsParser pins the command-line parser on the shapes the docs use, so
// that the drift check above cannot pass by finding nothing.
func TestDocsParser(t *testing.T) {
	md := "Run `go run ./cmd/gatewayworker demo --tick 2s` or\n`gatewayworker <command> --help`.\n\n" +
		"```sh\n" +
		"GW_SECRET=x gatewayworker send-to-all    [--exclude ID,ID] [--binary] TEXT   # --not-this\n" +
		"gatewayworker register & gatewayworker gateway --listen=127.0.0.1:7272 &\n" +
		"go build -o /tmp/gw ./cmd/gatewayworker && go build -o /tmp/gwbench ./cmd/gwbench\n" +
		"/tmp/gw demo --tick 0 \\\n    --lan 127.0.0.1:0\n" +
		"/tmp/gwbench run --url ws://x/ -v | tee out\n" +
		"go run -race ./examples/chat --register 127.0.0.1:1236\n" +
		"go test -run X ./cmd/gatewayworker/ --count 1\n" +
		"curl -H 'x: gatewayworker stats --nope' http://x\n" +
		"gatewayworker frobnicate --x\n" +
		"```\n\n```ini\nExecStart=/usr/local/bin/gatewayworker register --name r1 \\\n    --join a,b\n```\n" +
		"```go\nexec.Command(\"gatewayworker\", \"stats\", \"--nope\")\n```\n" +
		"```\n$ gatewayworker version --short\ngatewayworker v0.1.0 go1.26.8 linux/amd64\n```\n"
	subs := map[string][]string{"gatewayworker": {"demo", "gateway", "register", "send-to-all", "version"}, "gwbench": {"run"}}
	got, problems := docCommands("x.md", md, subs)
	var lines []string
	for _, c := range got {
		lines = append(lines, fmt.Sprintf("%s %s %s %v", c.where, c.program, c.sub, c.flags))
	}
	want := []string{
		"x.md:5 gatewayworker send-to-all [exclude binary]",
		"x.md:6 gatewayworker register []",
		"x.md:6 gatewayworker gateway [listen]",
		"x.md:8 gatewayworker demo [tick lan]",
		"x.md:10 gwbench run [url v]",
		"x.md:11 examples/chat  [register]",
		"x.md:18 gatewayworker register [name join]",
		"x.md:25 gatewayworker version [short]",
		"x.md:1 gatewayworker demo [tick]",
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("parsed:\n%s\nwant:\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
	if len(problems) != 1 || !strings.Contains(problems[0], "x.md:14: gatewayworker frobnicate: no such subcommand") {
		t.Errorf("problems %q, want the unknown subcommand on line 14", problems)
	}
}

// TestDocsFlagTablesParser pins the option-table parser: the flags of the
// first column, the commands the text before names, and the complaint about
// an option table that names no command.
func TestDocsFlagTablesParser(t *testing.T) {
	md := "## A\n\nOptions of `gatewayworker register` and of\n`gatewayworker demo`:\n\n" +
		"| option | default |\n|---|---|\n| `--gossip` | x |\n| (fixed) | y |\n| `--join`, `--join-timeout` | z |\n\n" +
		"Results (`gatewayworker demo --tick 0`):\n\n```sh\ngatewayworker stats\n```\n\n" +
		"| | plain |\n|---|---|\n| idle (`--idle`) | 1 |\n\n" +
		"## B\n\n| `--foo` | a |\n"
	subs := map[string][]string{"gatewayworker": {"demo", "register", "stats"}}
	tables, problems := flagTables("t.md", md, subs)
	if len(tables) != 2 {
		t.Fatalf("found %d option tables, want 2: %+v", len(tables), tables)
	}
	tb := tables[0]
	var names []string
	for _, c := range tb.commands {
		names = append(names, c.program+" "+c.sub)
	}
	if tb.where != "t.md:6" || strings.Join(names, ",") != "gatewayworker register,gatewayworker demo" ||
		strings.Join(tb.flags, ",") != "gossip,join,join-timeout" {
		t.Errorf("table %+v", tb)
	}
	if len(problems) != 1 || !strings.HasPrefix(problems[0], "t.md:24: a table of options that names no command") {
		t.Errorf("problems %q", problems)
	}
}

func TestDocsProseFlagsParser(t *testing.T) {
	md := "Set `--secret` (or `GW_SECRET`) and\n`--lan-tls-*` on gateways; add `--tls-cert /x.pem --tls-key\n/y.pem` here.\n\n" +
		"```sh\ngatewayworker gateway `--not-prose`\n```\n"
	where, flags := proseFlags("p.md", md)
	got := fmt.Sprint(where, flags)
	if want := "[p.md:1 p.md:2 p.md:2] [secret lan-tls-* tls-cert]"; got != want {
		t.Fatalf("proseFlags = %s, want %s", got, want)
	}
}

func TestDocDefault(t *testing.T) {
	for cell, want := range map[string]string{
		"`10s`": "10s", "1 MiB": "1MiB", "0 (no limit)": "0", "empty (any origin)": "", "off": "false",
		"on": "true", "256 (bytes)": "256", "256 bytes": "256", "1024 events": "1024", "`127.0.0.1:7946`": "127.0.0.1:7946",
		"0 (off); burst = one second's worth": "0",
	} {
		if got, ok := docDefault(cell); !ok || got != want {
			t.Errorf("docDefault(%q) = %q, %v; want %q", cell, got, ok, want)
		}
	}
	for _, cell := range []string{"= max message size", "at least 1", "host name"} {
		if got, ok := docDefault(cell); ok {
			t.Errorf("docDefault(%q) = %q, want it unread", cell, got)
		}
	}
	for _, c := range [][2]string{{"1m", "1m0s"}, {"1MiB", "1048576"}, {"false", ""}, {"false", "0"}, {"", ""}} {
		if !sameDefault(c[0], c[1]) {
			t.Errorf("sameDefault(%q, %q) = false", c[0], c[1])
		}
	}
	for _, c := range [][2]string{{"", "127.0.0.1:7946"}, {"2MiB", "1MiB"}, {"10s", "1m0s"}, {"true", "false"}} {
		if sameDefault(c[0], c[1]) {
			t.Errorf("sameDefault(%q, %q) = true", c[0], c[1])
		}
	}
}
