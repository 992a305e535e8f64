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
	defer p.Close()
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
// gateway answered it prints no table and returns the error as it is (a
// bare context.DeadlineExceeded: no register answered).
func printStats(ctx context.Context, w io.Writer, p *pushclient.Client) error {
	gws, gerr := p.Stats(ctx)
	if gerr != nil && len(gws) == 0 {
		if noRegister(gerr) {
			return gerr
		}
		return fmt.Errorf("stats: no gateway answered: %w", gerr)
	}
	var errs distinct
	errs.add(gerr)
	groups, err := p.GetAllGroupIdList(ctx)
	errs.add(err)
	uids, err := p.GetAllUidCount(ctx)
	errs.add(err)

	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "GATEWAY\tNAME\tLAN\tPUBLIC\tCLIENTS\tGROUPS\tUIDS\tWORKERS\tPUSH CLIENTS")
	clients := 0
	for _, g := range gws {
		clients += g.Clients
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%d\t%d\t%d\t%d\n", g.Node, g.Name, g.LANAddr, g.PublicAddr,
			g.Clients, g.Groups, g.Uids, g.Workers, g.PushClients-1) // not counting this command
	}
	fmt.Fprintf(tw, "total (%d gateways)\t\t\t\t%d\t%d\t%d\t%d\t\n", len(gws), clients, len(groups), uids, len(p.Workers()))
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(errs) > 0 {
		return fmt.Errorf("stats: partial: %w", errors.Join(errs...))
	}
	return nil
}

// distinct collects errors, leaving out one that reads the same as one
// already in (the queries of stats often fail alike).
type distinct []error

func (d *distinct) add(err error) {
	if err == nil {
		return
	}
	for _, e := range *d {
		if e.Error() == err.Error() {
			return
		}
	}
	*d = append(*d, err)
}
