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
	o.define(s)
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
	return printStats(ctx, e.stdout, p)
}

// printStats writes one row per gateway and a row of cluster totals (groups
// and uids counted once however many gateways hold them). Gateways that did
// not answer are reported in the returned error after the table.
func printStats(ctx context.Context, w io.Writer, p *pushclient.Client) error {
	gws, gerr := p.Stats(ctx)
	groups, err := p.Groups(ctx)
	gerr = errors.Join(gerr, err)
	uids, err := p.CountUIDs(ctx)
	gerr = errors.Join(gerr, err)

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
