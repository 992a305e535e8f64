package httpapi

import (
	"context"
	"errors"
	"net/http"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

func (s *Server) routes() {
	a, m := s.api, s.mux
	m.HandleFunc("POST /v1/send-to-all", s.command(func(ctx context.Context, q *request) error {
		msg, _, err := q.message(true)
		if err != nil {
			return badRequest{err}
		}
		opts := []businessworker.SendOption{businessworker.WithExclude(q.Exclude...)}
		if q.Clients != nil {
			opts = append(opts, businessworker.WithClients(*q.Clients...))
		}
		return a.SendToAll(ctx, msg, opts...)
	}))
	m.HandleFunc("POST /v1/send-to-client", s.command(func(ctx context.Context, q *request) error {
		msg, _, err := q.message(true)
		if err != nil {
			return badRequest{err}
		}
		return a.SendToClient(ctx, q.ClientID, msg)
	}))
	m.HandleFunc("POST /v1/send-to-uid", s.command(func(ctx context.Context, q *request) error {
		msg, _, err := q.message(true)
		if err != nil {
			return badRequest{err}
		}
		uids := withOne(q.UIDs, q.UID)
		if len(uids) == 0 {
			return badRequest{errors.New(`"uid" or "uids" is required`)}
		}
		return a.SendToUIDs(ctx, uids, msg)
	}))
	m.HandleFunc("POST /v1/send-to-group", s.command(func(ctx context.Context, q *request) error {
		msg, _, err := q.message(true)
		if err != nil {
			return badRequest{err}
		}
		groups := withOne(q.Groups, q.Group)
		if len(groups) == 0 {
			return badRequest{errors.New(`"group" or "groups" is required`)}
		}
		return a.SendToGroups(ctx, groups, msg, businessworker.WithExclude(q.Exclude...))
	}))
	m.HandleFunc("POST /v1/close-client", s.command(func(ctx context.Context, q *request) error {
		msg, has, err := q.message(false)
		if err != nil {
			return badRequest{err}
		}
		var opts []businessworker.CloseOption
		if has {
			opts = append(opts, businessworker.WithLastMessage(msg))
		}
		if q.Immediate {
			opts = append(opts, businessworker.WithImmediate())
		}
		return a.CloseClient(ctx, q.ClientID, opts...)
	}))
	m.HandleFunc("POST /v1/bind-uid", s.command(func(ctx context.Context, q *request) error {
		return a.BindUID(ctx, q.ClientID, q.UID)
	}))
	m.HandleFunc("POST /v1/unbind-uid", s.command(func(ctx context.Context, q *request) error {
		return a.UnbindUID(ctx, q.ClientID, q.UID)
	}))
	m.HandleFunc("POST /v1/join-group", s.command(func(ctx context.Context, q *request) error {
		return a.JoinGroup(ctx, q.ClientID, q.Group)
	}))
	m.HandleFunc("POST /v1/leave-group", s.command(func(ctx context.Context, q *request) error {
		return a.LeaveGroup(ctx, q.ClientID, q.Group)
	}))
	m.HandleFunc("POST /v1/ungroup", s.command(func(ctx context.Context, q *request) error {
		return a.Ungroup(ctx, q.Group)
	}))
	m.HandleFunc("POST /v1/set-session", s.command(func(ctx context.Context, q *request) error {
		return a.SetSession(ctx, q.ClientID, q.Session)
	}))
	m.HandleFunc("POST /v1/update-session", s.command(func(ctx context.Context, q *request) error {
		return a.UpdateSession(ctx, q.ClientID, q.Session, q.Delete...)
	}))

	m.HandleFunc("GET /v1/clients/{id}", s.query(func(ctx context.Context, r *http.Request) (map[string]any, error) {
		id := r.PathValue("id")
		on, err := a.IsOnline(ctx, id)
		if err != nil || !on {
			return map[string]any{"online": false}, err
		}
		uid, err := a.UID(ctx, id)
		if err != nil {
			return nil, err
		}
		session, err := a.Session(ctx, id)
		return map[string]any{"online": true, "uid": uid, "session": session}, err
	}))
	m.HandleFunc("GET /v1/clients", s.query(func(ctx context.Context, r *http.Request) (map[string]any, error) {
		ids, err := a.Clients(ctx)
		return map[string]any{"count": len(ids), "client_ids": ids}, err
	}))
	m.HandleFunc("GET /v1/uids", s.query(func(ctx context.Context, r *http.Request) (map[string]any, error) {
		uids, err := a.UIDs(ctx)
		return map[string]any{"count": len(uids), "uids": uids}, err
	}))
	m.HandleFunc("GET /v1/uids/{uid}", s.query(func(ctx context.Context, r *http.Request) (map[string]any, error) {
		ids, err := a.ClientsByUID(ctx, r.PathValue("uid"))
		return map[string]any{"online": len(ids) > 0, "client_ids": nonNil(ids)}, err
	}))
	m.HandleFunc("GET /v1/groups", s.query(func(ctx context.Context, r *http.Request) (map[string]any, error) {
		groups, err := a.Groups(ctx)
		return map[string]any{"groups": nonNil(groups)}, err
	}))
	m.HandleFunc("GET /v1/groups/{group}", s.query(func(ctx context.Context, r *http.Request) (map[string]any, error) {
		g := r.PathValue("group")
		ids, err := a.ClientsInGroup(ctx, g)
		if err != nil {
			return map[string]any{"count": len(ids), "client_ids": nonNil(ids)}, err
		}
		uids, err := a.UIDsInGroup(ctx, g)
		return map[string]any{"count": len(ids), "client_ids": nonNil(ids), "uids": nonNil(uids)}, err
	}))
	m.HandleFunc("GET /v1/stats", s.query(func(ctx context.Context, r *http.Request) (map[string]any, error) {
		st, err := a.Stats(ctx)
		return map[string]any{"gateways": st}, err
	}))
}

// withOne adds one to list unless it is "".
func withOne(list []string, one string) []string {
	if one != "" {
		return append(list, one)
	}
	return list
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
