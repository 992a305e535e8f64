// Package cli builds the option sets of the gatewayworker subcommands.
//
// Every option is a flag, an environment variable and a key of an optional
// YAML file, resolved in one order: a flag given on the command line, then
// the environment variable (GW_ plus the flag name upper-cased with dashes
// as underscores: --max-pending is GW_MAX_PENDING), then the file given with
// --config (or GW_CONFIG), then the documented default. A bad value is
// refused at start with a message that names the option and where the
// value came from.
//
// Flags may come before, between or after the positional arguments; "--"
// ends the flags (what follows is positional even when it starts with a
// dash).
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// EnvPrefix starts the name of every environment variable.
const EnvPrefix = "GW_"

// ErrHelp is returned by Parse when -h or --help was asked for; the usage
// text has been written already.
var ErrHelp = flag.ErrHelp

// Set is the option set of one subcommand.
type Set struct {
	fs      *flag.FlagSet
	args    []string // positional arguments, after Parse
	name    string
	summary string
	bare    bool // NewBare: no options, not even --config
	config  string
	getenv  func(string) string
}

// New returns an empty option set for the named subcommand. Usage text
// goes to out. getenv looks up environment variables (nil: os.Getenv).
func New(name, summary string, out io.Writer, getenv func(string) string) *Set {
	if getenv == nil {
		getenv = os.Getenv
	}
	s := &Set{fs: flag.NewFlagSet(name, flag.ContinueOnError), name: name, summary: summary, getenv: getenv}
	s.fs.SetOutput(out)
	s.fs.StringVar(&s.config, "config", "", "optional YAML file of options (keys are flag names)")
	s.fs.Usage = s.usage
	return s
}

// NewBare returns an option set with no options at all (not even
// --config), for a subcommand such as version: it still answers -h/--help
// and refuses anything else.
func NewBare(name, summary string, out io.Writer) *Set {
	s := &Set{fs: flag.NewFlagSet(name, flag.ContinueOnError), name: name, summary: summary, bare: true,
		getenv: func(string) string { return "" }}
	s.fs.SetOutput(out)
	s.fs.Usage = s.usage
	return s
}

// EnvName returns the environment variable of a flag.
func EnvName(flagName string) string {
	return EnvPrefix + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
}

func (s *Set) usage() {
	w := s.fs.Output()
	if s.bare {
		fmt.Fprintf(w, "Usage: gatewayworker %s%s\n\n%s\n", s.name, s.argsHint(), s.summary)
		return
	}
	fmt.Fprintf(w, "Usage: gatewayworker %s [options]%s\n\n%s\n\nOptions (flag > environment > --config file > default):\n", s.name, s.argsHint(), s.summary)
	s.fs.VisitAll(func(f *flag.Flag) {
		if f.DefValue == "" {
			fmt.Fprintf(w, "  --%s\n    \t%s (env %s)\n", f.Name, f.Usage, EnvName(f.Name))
			return
		}
		fmt.Fprintf(w, "  --%s\n    \t%s (default %s, env %s)\n", f.Name, f.Usage, f.DefValue, EnvName(f.Name))
	})
}

// argsHint is the positional arguments named after "ARGS:" in the summary
// (" ID TEXT"), or "" when the command takes none.
func (s *Set) argsHint() string {
	_, args, ok := strings.Cut(s.summary, "ARGS:")
	if !ok {
		return ""
	}
	if line, _, _ := strings.Cut(args, "\n"); strings.TrimSpace(line) != "" {
		return " " + strings.TrimSpace(line)
	}
	return " ARGS"
}

// String defines a string option.
func (s *Set) String(p *string, name, def, usage string) { s.fs.StringVar(p, name, def, usage) }

// Int defines an int option.
func (s *Set) Int(p *int, name string, def int, usage string) { s.fs.IntVar(p, name, def, usage) }

// Int64 defines an int64 option; it accepts sizes such as 1MiB, 64KiB, 512.
func (s *Set) Int64(p *int64, name string, def int64, usage string) {
	*p = def
	s.fs.Var((*sizeValue)(p), name, usage)
}

// Float defines a float option.
func (s *Set) Float(p *float64, name string, def float64, usage string) {
	s.fs.Float64Var(p, name, def, usage)
}

// Bool defines a bool option.
func (s *Set) Bool(p *bool, name string, def bool, usage string) { s.fs.BoolVar(p, name, def, usage) }

// Duration defines a duration option (Go syntax: 10s, 1m30s).
func (s *Set) Duration(p *time.Duration, name string, def time.Duration, usage string) {
	s.fs.DurationVar(p, name, def, usage)
}

// List defines a comma-separated list option.
func (s *Set) List(p *[]string, name string, def []string, usage string) {
	*p = append([]string(nil), def...)
	s.fs.Var((*listValue)(p), name, usage)
}

// Args returns the positional arguments after Parse.
func (s *Set) Args() []string { return s.args }

// Usage writes the usage text.
func (s *Set) Usage() { s.fs.Usage() }

// Parse resolves every option from args, the environment and the config
// file, in that order of precedence. Flags and positional arguments may be
// interspersed; a set whose summary names no ARGS refuses positional
// arguments.
func (s *Set) Parse(args []string) error {
	flags, positional := s.split(args)
	if err := s.fs.Parse(flags); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return ErrHelp
		}
		return fmt.Errorf("%s: %w", s.name, err)
	}
	s.args = positional
	if len(s.args) > 0 && s.argsHint() == "" {
		return fmt.Errorf("%s: unexpected argument %q (this command takes options only)", s.name, s.args[0])
	}
	given := map[string]bool{}
	s.fs.Visit(func(f *flag.Flag) { given[f.Name] = true })

	if !given["config"] {
		if v := s.getenv(EnvName("config")); v != "" {
			s.config = v
		}
	}
	var file map[string]any
	if s.config != "" {
		raw, err := os.ReadFile(s.config)
		if err != nil {
			return fmt.Errorf("%s: --config: %w", s.name, err)
		}
		if err := yaml.Unmarshal(raw, &file); err != nil {
			return fmt.Errorf("%s: --config %s: %w", s.name, s.config, err)
		}
		var unknown []string
		for k := range file {
			if s.fs.Lookup(k) == nil || k == "config" {
				unknown = append(unknown, k)
			}
		}
		if len(unknown) > 0 {
			sort.Strings(unknown)
			return fmt.Errorf("%s: --config %s: unknown option(s) %s", s.name, s.config, strings.Join(unknown, ", "))
		}
	}
	var errs []error
	s.fs.VisitAll(func(f *flag.Flag) {
		if given[f.Name] || f.Name == "config" {
			return
		}
		if v := s.getenv(EnvName(f.Name)); v != "" {
			if err := f.Value.Set(v); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s=%q: %w", s.name, EnvName(f.Name), v, err))
			}
			return
		}
		if v, ok := file[f.Name]; ok {
			if err := f.Value.Set(yamlScalar(v)); err != nil {
				errs = append(errs, fmt.Errorf("%s: %s: %s: %v: %w", s.name, s.config, f.Name, v, err))
			}
		}
	})
	return errors.Join(errs...)
}

// split separates the flags (with their values) from the positional
// arguments, so that flags may follow arguments: "send-to-uid 42 hi
// --timeout 5s". A flag takes the next argument as its value unless it is a
// bool flag or is written --name=value. Unknown flags stay with the flags, so
// that flag.FlagSet reports them (and -h/--help).
func (s *Set) split(args []string) (flags, positional []string) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return flags, append(positional, args[i+1:]...)
		}
		if len(a) < 2 || a[0] != '-' {
			positional = append(positional, a)
			continue
		}
		flags = append(flags, a)
		name := strings.TrimLeft(a, "-")
		if strings.Contains(name, "=") {
			continue
		}
		f := s.fs.Lookup(name)
		if f == nil {
			continue
		}
		if b, ok := f.Value.(interface{ IsBoolFlag() bool }); ok && b.IsBoolFlag() {
			continue
		}
		if i+1 < len(args) {
			i++
			flags = append(flags, args[i])
		}
	}
	return flags, positional
}

func yamlScalar(v any) string {
	switch x := v.(type) {
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = fmt.Sprint(e)
		}
		return strings.Join(parts, ",")
	case nil:
		return ""
	default:
		return fmt.Sprint(x)
	}
}

type listValue []string

func (l *listValue) String() string {
	if l == nil {
		return ""
	}
	return strings.Join(*l, ",")
}

func (l *listValue) Set(v string) error {
	var out []string
	for _, p := range strings.Split(v, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	*l = out
	return nil
}

type sizeValue int64

func (v *sizeValue) String() string {
	if v == nil {
		return "0"
	}
	return FormatSize(int64(*v))
}

func (v *sizeValue) Set(s string) error {
	n, err := ParseSize(s)
	if err != nil {
		return err
	}
	*v = sizeValue(n)
	return nil
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}

// ParseSize parses a byte count such as 1048576, 1MiB, 64KiB or 2MB.
func ParseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid size %q (want e.g. 1048576, 1MiB, 64KiB)", s)
	}
	return n * mult, nil
}

// FormatSize prints n with the largest binary unit that divides it.
func FormatSize(n int64) string {
	for _, u := range sizeUnits[:3] {
		if n >= u.mult && n%u.mult == 0 {
			return strconv.FormatInt(n/u.mult, 10) + u.suffix
		}
	}
	return strconv.FormatInt(n, 10)
}
