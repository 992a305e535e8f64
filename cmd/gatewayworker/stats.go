package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/gatewayworker/gatewayworker/internal/cli"
	"github.com/gatewayworker/gatewayworker/pushclient"
)

func runStats(ctx context.Context, e env, args []string) error {
	var o pushOptions
	s := cli.New("stats", "Print clients, groups, uids and linked workers per gateway, and the cluster totals.", e.stderr, e.getenv)
	o.define(s, oneShotSecretHelp, oneShotTimeoutHelp)
	if err := parse(s, args); err != nil {
		return err
	}
	p, err := o.client(e.stderr, "gatewayworker stats", true)
	if err != nil {
		return err
	}
	defer p.Close(context.Background())
	ctx, cancel := context.WithTimeout(ctx, o.timeout)
	defer cancel()
	err = printStats(ctx, e.stdout, p)
	if noRegister(err) {
		return o.noRegisterError("stats", err)
	}
	return err
}

// printStats writes one row per gateway and a row of cluster totals (groups
// and uids counted once however many gateways hold them). Gateways that did
// not answer are reported in the returned error after the table. When no
// gateway answered it prints no table and returns the error (the deadline,
// when no register answered).
func printStats(ctx context.Context, w io.Writer, p *pushclient.Client) error {
	gws, gerr := p.Stats(ctx)
	groups, err := p.Groups(ctx)
	gerr = errors.Join(gerr, err)
	uids, err := p.CountUIDs(ctx)
	gerr = errors.Join(gerr, err)

	gerr = distinctErrors(gerr) // the three queries often fail alike
	if gerr != nil && len(gws) == 0 {
		if noRegister(gerr) {
			return gerr
		}
		return fmt.Errorf("stats: no gateway answered: %w", gerr)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GATEWAY\tNAME\tLAN\tPUBLIC\tCLIENTS\tGROUPS\tUIDS\tWORKERS\tPUSH CLIENTS")
	clients := 0
	for _, g := range gws {
		clients += g.Clients
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", g.Node, g.Name, g.LANAddr, g.PublicAddr,
			g.Clients, g.Groups, g.UIDs, g.Workers, g.PushClients-1) // not counting this command
	}
	fmt.Fprintf(tw, "total (%d gateways)\t\t\t\t%d\t%d\t%d\t%d\t\n", len(gws), clients, len(groups), uids, len(p.Workers()))
	if err := tw.Flush(); err != nil {
		return err
	}
	if gerr != nil {
		return fmt.Errorf("stats: partial: %w", gerr)
	}
	return nil
}

// distinctErrors flattens the errors joined in err and leaves out those
// that read the same as an earlier one; a single error comes back as it is.
func distinctErrors(err error) error {
	var out []error
	var walk func(error)
	walk = func(e error) {
		if j, ok := e.(interface{ Unwrap() []error }); ok {
			for _, x := range j.Unwrap() {
				walk(x)
			}
			return
		}
		for _, o := range out {
			if o.Error() == e.Error() {
				return
			}
		}
		out = append(out, e)
	}
	if err != nil {
		walk(err)
	}
	switch len(out) {
	case 0:
		return nil
	case 1:
		return out[0]
	}
	return errors.Join(out...)
}
