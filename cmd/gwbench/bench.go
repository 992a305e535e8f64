package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"runtime/pprof"

	"github.com/gatewayworker/gatewayworker/internal/loadgen"
)

func runBench(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parseRunFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "gwbench:", err)
		return 2
	}
	level := slog.LevelWarn
	if o.verbose {
		level = slog.LevelDebug
	}
	o.cfg.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))
	o.cfg.ChildCommand = childCommand(stderr)
	b, err := loadgen.New(o.cfg)
	if err != nil {
		fmt.Fprintln(stderr, "gwbench:", err)
		return 2
	}
	if o.cpuProf != "" {
		stopProf, err := startCPUProfile(o.cpuProf)
		if err != nil {
			fmt.Fprintln(stderr, "gwbench:", err)
			return 1
		}
		defer stopProf()
	}
	var progress func(loadgen.Progress)
	if !o.quiet {
		progress = func(p loadgen.Progress) { fmt.Fprintln(stderr, formatProgress(p)) }
	}
	rep, err := b.Run(ctx, progress)
	if err != nil {
		fmt.Fprintln(stderr, "gwbench:", err)
		return 1
	}
	printSummary(stdout, rep)
	if o.jsonPath != "" {
		if err := writeJSON(o.jsonPath, rep); err != nil {
			fmt.Fprintln(stderr, "gwbench:", err)
			return 1
		}
	}
	return 0
}

// childCommand starts this executable as `gwbench child`; the children's
// stderr (warnings) goes to ours.
func childCommand(stderr io.Writer) func(context.Context) *exec.Cmd {
	return func(ctx context.Context) *exec.Cmd {
		exe, err := os.Executable()
		if err != nil {
			exe = os.Args[0]
		}
		cmd := exec.CommandContext(ctx, exe, "child")
		cmd.Stderr = stderr
		return cmd
	}
}

func serveChild(ctx context.Context, stdin io.Reader, stdout io.Writer, log *slog.Logger) error {
	return loadgen.ServeChild(ctx, stdin, stdout, log)
}

// startCPUProfile profiles this process (not its children) until the
// returned function is called.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		_ = f.Close()
		return nil, err
	}
	return func() {
		pprof.StopCPUProfile()
		_ = f.Close()
	}, nil
}

func writeJSON(path string, rep *loadgen.Report) error {
	b, err := json.MarshalIndent(rep, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(b, '\n'), 0o644)
}
