package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"

	"github.com/gatewayworker/gatewayworker/internal/cli"
)

// env bundles what a subcommand reads from and writes to.
type env struct {
	stdout, stderr io.Writer
	getenv         func(string) string
}

type command struct {
	summary string
	run     func(ctx context.Context, e env, args []string) error
}

func commands() map[string]command {
	return map[string]command{
		"register": {"run a register (discovery)", runRegister},
		"gateway":  {"run a gateway (holds client WebSocket connections)", runGateway},
		"demo":     {"run register, gateway and the chat worker in one process", runDemo},
		"version":  {"print the version", runVersion},

		"send-to-all":    sendCommand("send-to-all"),
		"send-to-client": sendCommand("send-to-client"),
		"send-to-uid":    sendCommand("send-to-uid"),
		"send-to-group":  sendCommand("send-to-group"),
		"stats":          {"print clients, groups, uids and workers per gateway", runStats},
		"api":            {"serve the HTTP push API (JSON, bearer token)", runAPI},
	}
}

// run executes one subcommand and returns the process exit code: 0 on
// success, 2 on a usage or configuration error, 1 on a runtime failure.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cmds := commands()
	if len(args) > 1 && args[0] == "help" { // "help stats" is "stats --help"
		args = []string{args[1], "--help"}
	}
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(stderr, cmds)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := cmds[args[0]]
	if !ok {
		fmt.Fprintf(stderr, "gatewayworker: unknown command %q\n\n", args[0])
		usage(stderr, cmds)
		return 2
	}
	err := c.run(ctx, env{stdout: stdout, stderr: stderr, getenv: getenv}, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, cli.ErrHelp):
		return 0
	case errors.As(err, new(usageError)):
		fmt.Fprintln(stderr, "gatewayworker:", err)
		return 2
	default:
		fmt.Fprintln(stderr, "gatewayworker:", err)
		return 1
	}
}

func usage(w io.Writer, cmds map[string]command) {
	fmt.Fprintln(w, "Usage: gatewayworker <command> [options]")
	fmt.Fprintln(w, "\nCommands:")
	names := make([]string, 0, len(cmds))
	for n := range cmds {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-14s %s\n", n, cmds[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'gatewayworker <command> --help' (or 'gatewayworker help <command>') for the options of a command.")
}

// usageError marks a bad flag or option value (exit code 2).
type usageError struct{ err error }

func (u usageError) Error() string { return u.err.Error() }
func (u usageError) Unwrap() error { return u.err }

// parse parses a subcommand's options, marking failures as usage errors.
func parse(s *cli.Set, args []string) error {
	if err := s.Parse(args); err != nil {
		if errors.Is(err, cli.ErrHelp) {
			return err
		}
		return usageError{err}
	}
	return nil
}
