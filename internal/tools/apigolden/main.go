// Command apigolden writes or checks the golden file of the module's public
// API (api/exported.txt), in the spirit of the Go repository's api/ files:
// one line per exported name of the packages listed (functions, methods of
// the method sets, struct fields, constants with their values, interface
// methods), sorted. Any change to an exported name or signature changes the
// file, so it shows up in review; "make lint" runs the check.
//
//	go run ./internal/tools/apigolden            # check: exit 1 and a diff on mismatch
//	go run ./internal/tools/apigolden -write     # regenerate after a deliberate change
//
// It also fails when an exported signature names a type of an internal
// package, which callers outside the module could not use.
//
// The types come from the compiler's export data (go list -export), read
// with go/importer: no dependency beyond the standard library.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"go/importer"
	"go/token"
	"go/types"
	"io"
	"os"
	"os/exec"
	"slices"
	"strings"
)

// DefaultPackages are the packages whose API the golden file holds.
var DefaultPackages = []string{
	"github.com/gatewayworker/gatewayworker/businessworker",
	"github.com/gatewayworker/gatewayworker/gateway",
	"github.com/gatewayworker/gatewayworker/pushclient",
	"github.com/gatewayworker/gatewayworker/register",
}

func main() {
	golden := flag.String("golden", "api/exported.txt", "the golden file")
	write := flag.Bool("write", false, "write the golden file instead of checking it")
	flag.Parse()
	pkgs := DefaultPackages
	if flag.NArg() > 0 {
		pkgs = flag.Args()
	}
	lines, problems, err := apiLines(pkgs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "apigolden:", err)
		os.Exit(2)
	}
	for _, p := range problems {
		fmt.Fprintln(os.Stderr, "apigolden: internal type in the public API:", p)
	}
	got := strings.Join(lines, "\n") + "\n"
	if *write {
		if err := os.WriteFile(*golden, []byte(got), 0o644); err != nil {
			fmt.Fprintln(os.Stderr, "apigolden:", err)
			os.Exit(2)
		}
	} else if err := check(*golden, lines, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "apigolden:", err)
		os.Exit(1)
	}
	if len(problems) > 0 {
		os.Exit(1)
	}
}

// check compares lines with the golden file and writes the differences.
func check(golden string, lines []string, w io.Writer) error {
	raw, err := os.ReadFile(golden)
	if err != nil {
		return fmt.Errorf("%w (run: go run ./internal/tools/apigolden -write)", err)
	}
	want := strings.Split(strings.TrimSuffix(string(raw), "\n"), "\n")
	added, removed := diff(want, lines)
	for _, l := range removed {
		fmt.Fprintln(w, "-", l)
	}
	for _, l := range added {
		fmt.Fprintln(w, "+", l)
	}
	if len(added)+len(removed) > 0 {
		return fmt.Errorf("the public API differs from %s (+ new, - gone); if the change is deliberate, run: go run ./internal/tools/apigolden -write", golden)
	}
	return nil
}

// diff returns the lines only in got and only in want (both sorted).
func diff(want, got []string) (added, removed []string) {
	in := func(s []string, l string) bool { _, ok := slices.BinarySearch(s, l); return ok }
	for _, l := range got {
		if !in(want, l) {
			added = append(added, l)
		}
	}
	for _, l := range want {
		if !in(got, l) {
			removed = append(removed, l)
		}
	}
	return added, removed
}

// apiLines loads pkgs from export data and lists their exported API.
func apiLines(pkgs []string) (lines, problems []string, err error) {
	exports, err := exportFiles(pkgs)
	if err != nil {
		return nil, nil, err
	}
	fset := token.NewFileSet()
	imp := importer.ForCompiler(fset, "gc", func(path string) (io.ReadCloser, error) {
		f, ok := exports[path]
		if !ok {
			return nil, fmt.Errorf("no export data for %s", path)
		}
		return os.Open(f)
	})
	seen := map[string]bool{}
	for _, path := range pkgs {
		p, err := imp.Import(path)
		if err != nil {
			return nil, nil, fmt.Errorf("import %s: %w", path, err)
		}
		w := &writer{pkg: p, seen: seen}
		w.pkgLines()
		lines = append(lines, w.lines...)
		problems = append(problems, w.problems...)
	}
	slices.Sort(lines)
	lines = slices.Compact(lines)
	slices.Sort(problems)
	return lines, slices.Compact(problems), nil
}

// exportFiles runs go list -export on pkgs and their dependencies.
func exportFiles(pkgs []string) (map[string]string, error) {
	cmd := exec.Command("go", append([]string{"list", "-export", "-deps", "-json=ImportPath,Export"}, pkgs...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return nil, fmt.Errorf("go list: %w: %s", err, stderr.String())
	}
	m := map[string]string{}
	dec := json.NewDecoder(bufio.NewReader(bytes.NewReader(out)))
	for dec.More() {
		var p struct{ ImportPath, Export string }
		if err := dec.Decode(&p); err != nil {
			return nil, err
		}
		m[p.ImportPath] = p.Export
	}
	return m, nil
}

type writer struct {
	pkg      *types.Package
	lines    []string
	problems []string
	seen     map[string]bool
}

func (w *writer) add(format string, args ...any) {
	w.lines = append(w.lines, "pkg "+w.pkg.Name()+", "+fmt.Sprintf(format, args...))
}

// typ formats t with package names, and records any internal package it
// names.
func (w *writer) typ(t types.Type, where string) string {
	return types.TypeString(t, func(p *types.Package) string {
		if p == w.pkg {
			return ""
		}
		if strings.Contains(p.Path()+"/", "/internal/") {
			w.problems = append(w.problems, fmt.Sprintf("%s.%s names %s", w.pkg.Name(), where, p.Path()))
		}
		return p.Name()
	})
}

func (w *writer) sig(s *types.Signature, where string) string {
	return strings.TrimPrefix(w.typ(s, where), "func")
}

func (w *writer) pkgLines() {
	scope := w.pkg.Scope()
	for _, name := range scope.Names() {
		obj := scope.Lookup(name)
		if !obj.Exported() {
			continue
		}
		switch o := obj.(type) {
		case *types.Const:
			w.add("const %s %s = %s", name, w.typ(o.Type(), name), o.Val().ExactString())
		case *types.Var:
			w.add("var %s %s", name, w.typ(o.Type(), name))
		case *types.Func:
			w.add("func %s%s", name, w.sig(o.Type().(*types.Signature), name))
		case *types.TypeName:
			w.typeLines(o)
		}
	}
}

func (w *writer) typeLines(o *types.TypeName) {
	name := o.Name()
	if o.IsAlias() {
		w.add("type %s = %s", name, w.typ(types.Unalias(o.Type()), name))
		return
	}
	under := o.Type().Underlying()
	switch u := under.(type) {
	case *types.Struct:
		w.add("type %s struct", name)
		for i := range u.NumFields() {
			f := u.Field(i)
			if !f.Exported() {
				continue
			}
			if f.Embedded() {
				w.add("type %s struct, embedded %s", name, w.typ(f.Type(), name+"."+f.Name()))
				continue
			}
			w.add("type %s struct, %s %s", name, f.Name(), w.typ(f.Type(), name+"."+f.Name()))
		}
	case *types.Interface:
		w.add("type %s interface", name)
		for i := range u.NumMethods() {
			m := u.Method(i)
			if m.Exported() {
				w.add("type %s interface, %s%s", name, m.Name(), w.sig(m.Type().(*types.Signature), name+"."+m.Name()))
			}
		}
	default:
		w.add("type %s %s", name, w.typ(under, name))
	}
	// The method sets of T and *T, promoted methods included, so that
	// go doc's view and the golden file agree on what a value offers.
	for _, recv := range []types.Type{o.Type(), types.NewPointer(o.Type())} {
		ms := types.NewMethodSet(recv)
		for i := range ms.Len() {
			m := ms.At(i).Obj()
			if !m.Exported() {
				continue
			}
			if _, isPtr := recv.(*types.Pointer); isPtr && types.NewMethodSet(o.Type()).Lookup(m.Pkg(), m.Name()) != nil {
				continue // listed for T already
			}
			r := name
			if _, isPtr := recv.(*types.Pointer); isPtr {
				r = "*" + name
			}
			w.add("method (%s) %s%s", r, m.Name(), w.sig(m.Type().(*types.Signature), name+"."+m.Name()))
		}
	}
}
