package linker

import (
	"context"
	"slices"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Result is the merge of the QueryResults of several gateways, with
// gateway-local conns turned into client ids.
type Result struct {
	Count   uint64         // sum of the gateways' counts
	Clients []ClientResult // by gateway, then as the gateway listed them
	Groups  map[string]*GroupResult
	Uids    map[string][]clientid.ID
	Stats   Stats // summed over gateways (KIND_STATS)
}

// Stats are gateway counters summed over gateways.
type Stats struct {
	Clients, Groups, Uids, Workers, PushClients uint64
}

// ClientResult is one client of a KIND_CLIENTS query.
type ClientResult struct {
	ID   clientid.ID
	Info *pb.ClientInfo
}

// GroupResult is one group of a KIND_GROUPS query, merged over gateways.
type GroupResult struct {
	Count   uint64
	Members []clientid.ID
	Uids    []string // sorted, deduplicated
}

// Query runs build(node) on every node in nodes (nil: every gateway of the
// set) like Request and merges the results. On error the partial result of
// the gateways that answered is returned with the joined errors.
func (l *Linker) Query(ctx context.Context, nodes []uint64, build func(node uint64) *pb.Query) (*Result, error) {
	replies, err := l.Request(ctx, nodes, func(node uint64) *pb.Command {
		q := build(node)
		if q == nil {
			return nil
		}
		return &pb.Command{Op: &pb.Command_Query{Query: q}}
	})
	return Merge(replies), err
}

// Merge merges query replies.
func Merge(replies []Reply) *Result {
	res := &Result{}
	for _, r := range replies {
		qr := r.Reply.GetResult()
		if qr == nil {
			continue
		}
		res.Count += qr.GetCount()
		for _, c := range qr.GetClients() {
			res.Clients = append(res.Clients, ClientResult{ID: clientid.ID{Node: r.Node, Conn: c.GetConn()}, Info: c})
		}
		for _, g := range qr.GetGroups() {
			if res.Groups == nil {
				res.Groups = make(map[string]*GroupResult)
			}
			gr := res.Groups[g.GetName()]
			if gr == nil {
				gr = &GroupResult{}
				res.Groups[g.GetName()] = gr
			}
			gr.Count += g.GetCount()
			for _, c := range g.GetConns() {
				gr.Members = append(gr.Members, clientid.ID{Node: r.Node, Conn: c})
			}
			gr.Uids = append(gr.Uids, g.GetUids()...)
		}
		for _, u := range qr.GetUids() {
			if res.Uids == nil {
				res.Uids = make(map[string][]clientid.ID)
			}
			for _, c := range u.GetConns() {
				res.Uids[u.GetUid()] = append(res.Uids[u.GetUid()], clientid.ID{Node: r.Node, Conn: c})
			}
			if _, ok := res.Uids[u.GetUid()]; !ok {
				res.Uids[u.GetUid()] = nil
			}
		}
		if s := qr.GetStats(); s != nil {
			res.Stats.Clients += s.GetClients()
			res.Stats.Groups += s.GetGroups()
			res.Stats.Uids += s.GetUids()
			res.Stats.Workers += s.GetWorkers()
			res.Stats.PushClients += s.GetPushClients()
		}
	}
	for _, g := range res.Groups {
		slices.Sort(g.Uids)
		g.Uids = slices.Compact(g.Uids)
	}
	return res
}
