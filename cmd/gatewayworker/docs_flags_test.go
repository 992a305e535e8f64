package main

import (
	"bytes"
	"context"
	"maps"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
)

// This file keeps README.md and docs/*.md honest about the programs they
// show (run by make test):
//   - every command line that runs gatewayworker (a subcommand), gwbench or
//     an example names a subcommand that exists and only flags its --help
//     lists;
//   - every table of options lists flags of the commands the text before it
//     names, with the defaults their --help prints;
//   - every flag the prose names on its own is a flag of one of them;
//   - the README's layout names every directory, command and example.
// The parsers are in docs_parse_test.go.

// gatewayworkerHelp runs "gatewayworker SUB --help" in process.
func gatewayworkerHelp(t *testing.T, sub string) string {
	t.Helper()
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{sub, "--help"}, &out, &errb, func(string) string { return "" }); code != 0 {
		t.Fatalf("gatewayworker %s --help: exit %d\n%s", sub, code, errb.String())
	}
	return out.String() + errb.String()
}

func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("repository root: %v", err)
	}
	return root
}

func markdownFiles(t *testing.T, root string) []string {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	if err != nil {
		t.Fatal(err)
	}
	return append([]string{filepath.Join(root, "README.md")}, files...)
}

// TestDocsCommandFlags checks every command line of README.md and docs/*.md
// that runs gatewayworker, gwbench or an example against that program's
// --help: the subcommand exists and every flag it passes is listed. The
// same holds for the tables of options: each flag of their first column
// must be listed by every command the text before the table names.
// gatewayworker's help comes from run in process; gwbench and the examples
// are built once (skipped with -short).
func TestDocsCommandFlags(t *testing.T) {
	root := repoRoot(t)
	var gwSubs []string
	for name := range commands() {
		gwSubs = append(gwSubs, name)
	}
	sort.Strings(gwSubs)
	subs := map[string][]string{"gatewayworker": gwSubs, "gwbench": {"run", "child", "worker"}}

	var (
		cmds      []docCommand
		tablesAll []flagTable
	)
	for _, f := range markdownFiles(t, root) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		found, problems := docCommands(rel, string(b), subs)
		tables, more := flagTables(rel, string(b), subs)
		for _, p := range append(problems, more...) {
			t.Error(p)
		}
		cmds = append(cmds, found...)
		for _, tb := range tables {
			for _, c := range tb.commands {
				cmds = append(cmds, docCommand{where: tb.where + " (table)", program: c.program, sub: c.sub, flags: tb.flags})
			}
			tablesAll = append(tablesAll, tb)
		}
	}
	if len(cmds) < 20 {
		t.Fatalf("found only %d command lines in the docs: the parser is broken", len(cmds))
	}

	helps := map[string]map[string]bool{}      // "program sub" -> flags
	defaults := map[string]map[string]string{} // "gatewayworker sub" -> flag -> default
	for _, sub := range gwSubs {
		help := gatewayworkerHelp(t, sub)
		helps["gatewayworker "+sub] = helpFlags(help)
		defaults["gatewayworker "+sub] = helpDefaults(help)
		if sub == "gateway" && len(defaults["gatewayworker "+sub]) < 30 {
			t.Fatalf("read only %d defaults from gatewayworker gateway --help: the parser is broken", len(defaults["gatewayworker "+sub]))
		}
	}
	built := []string{"gwbench"} // programs to build: gwbench and every example
	mains, err := filepath.Glob(filepath.Join(root, "examples", "*", "main.go"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range mains {
		built = append(built, "examples/"+filepath.Base(filepath.Dir(m)))
	}
	for _, c := range cmds {
		if c.program != "gatewayworker" && !slices.Contains(built, c.program) {
			t.Errorf("%s: %s is not a program of this repository", c.where, c.program)
		}
	}
	if testing.Short() {
		t.Logf("-short: not building %v; their command lines and the flags named in prose are not checked", built)
	} else {
		for prog, help := range builtHelps(t, root, built) {
			helps[prog] = helpFlags(help)
		}
		checkProseFlags(t, root, helps)
	}

	checked := 0
	for _, c := range cmds {
		key := strings.TrimSpace(c.program + " " + c.sub)
		have, ok := helps[key]
		if !ok {
			continue // -short
		}
		checked++
		for _, f := range c.flags {
			if !have[f] {
				t.Errorf("%s: %s --%s: no such flag in `%s --help`", c.where, key, f, key)
			}
		}
	}
	t.Logf("checked %d command lines of %d", checked, len(cmds))

	// The defaults the option tables give are the ones --help prints.
	nDefaults := 0
	for _, tb := range tablesAll {
		for _, c := range tb.commands {
			key := c.program + " " + c.sub
			for j, f := range tb.flags {
				want, ok := docDefault(tb.defaults[j])
				have, defined := defaults[key][f]
				if !ok || !defined || tb.defaults[j] == "" {
					continue
				}
				nDefaults++
				if !sameDefault(want, have) {
					t.Errorf("%s:%d: %s --%s: the table says default %q, `%s --help` says %q",
						strings.SplitN(tb.where, ":", 2)[0], tb.rows[j], key, f, tb.defaults[j], key, have)
				}
			}
		}
	}
	if nDefaults < 20 {
		t.Errorf("checked only %d defaults of the option tables: the parser is broken", nDefaults)
	}
	t.Logf("checked %d defaults of option tables", nDefaults)
}

// checkProseFlags checks the flags the prose names on their own
// ("set `--secret` on every process"): each must be a flag of one of our
// programs or of bench/compare.sh ("`--tls-*`": of some flag so prefixed).
func checkProseFlags(t *testing.T, root string, helps map[string]map[string]bool) {
	t.Helper()
	known := map[string]bool{}
	for _, fl := range helps {
		for f := range fl {
			known[f] = true
		}
	}
	script, err := os.ReadFile(filepath.Join(root, "bench", "compare.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range compareFlagRe.FindAllStringSubmatch(string(script), -1) {
		known[m[1]] = true
	}
	n := 0
	for _, f := range markdownFiles(t, root) {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		where, flags := proseFlags(rel, string(b))
		for i, fl := range flags {
			n++
			if prefix, ok := strings.CutSuffix(fl, "*"); ok {
				if !slices.ContainsFunc(slices.Collect(maps.Keys(known)), func(k string) bool { return strings.HasPrefix(k, prefix) }) {
					t.Errorf("%s: `--%s` matches no flag of gatewayworker, gwbench, the examples or bench/compare.sh", where[i], fl)
				}
				continue
			}
			if !known[fl] {
				t.Errorf("%s: `--%s` is no flag of gatewayworker, gwbench, the examples or bench/compare.sh", where[i], fl)
			}
		}
	}
	if n < 50 {
		t.Errorf("found only %d flags named in the prose: the parser is broken", n)
	}
}

// builtHelps builds gwbench and the examples named in progs into a temporary
// directory with one go build and returns each one's -h output (for gwbench
// that of "gwbench run -h", "gwbench child -h" and "gwbench worker -h").
func builtHelps(t *testing.T, root string, progs []string) map[string]string {
	t.Helper()
	goTool, err := exec.LookPath("go")
	if err != nil {
		t.Skipf("no go tool: %v", err)
	}
	dir := t.TempDir()
	pkgs := make([]string, 0, len(progs))
	for _, p := range progs {
		if p == "gwbench" {
			pkgs = append(pkgs, "./cmd/gwbench")
		} else {
			pkgs = append(pkgs, "./"+p)
		}
	}
	build := exec.Command(goTool, append([]string{"build", "-o", dir + "/"}, pkgs...)...)
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %v: %v\n%s", pkgs, err, out)
	}
	out := map[string]string{}
	help := func(bin string, args ...string) string {
		// -h exits 0 or 2 depending on the program; the text is what counts.
		b, _ := exec.Command(filepath.Join(dir, bin), args...).CombinedOutput()
		return string(b)
	}
	for _, p := range progs {
		if p == "gwbench" {
			out["gwbench run"] = help("gwbench", "run", "-h")
			out["gwbench child"] = ""
			out["gwbench worker"] = help("gwbench", "worker", "-h")
			continue
		}
		out[p] = help(path.Base(p), "-h")
		if !strings.Contains(out[p], "-") {
			t.Fatalf("%s -h printed no flags: %q", p, out[p])
		}
	}
	return out
}

// TestREADMELayout checks that the README's Layout section names every
// top-level directory, every command under cmd/ and every example.
func TestREADMELayout(t *testing.T) {
	root := repoRoot(t)
	b, err := os.ReadFile(filepath.Join(root, "README.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, layout, ok := strings.Cut(string(b), "\n## Layout\n")
	if !ok {
		t.Fatal("README.md has no ## Layout section")
	}
	layout, _, _ = strings.Cut(layout, "\n## ")
	entries, err := os.ReadDir(root)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range entries {
		name := e.Name()
		if !e.IsDir() || strings.HasPrefix(name, ".") || name == "bin" || name == "dist" { // build output (.gitignore)
			continue
		}
		n++
		if !strings.Contains(layout, "`"+name+"/") && !strings.Contains(layout, "`"+name+"`") {
			t.Errorf("README.md's layout does not name the directory %s/", name)
		}
	}
	if n < 8 {
		t.Fatalf("found only %d top-level directories in %s", n, root)
	}
	for _, dir := range []string{"cmd", "examples"} {
		subs, err := os.ReadDir(filepath.Join(root, dir))
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range subs {
			if !e.IsDir() {
				continue
			}
			full := "`" + dir + "/" + e.Name() + "`"
			short := "`" + e.Name() + "`" // in the examples/ row
			if !strings.Contains(layout, full) && !(dir == "examples" && strings.Contains(layout, short)) {
				t.Errorf("README.md's layout does not name %s/%s", dir, e.Name())
			}
		}
	}
}
