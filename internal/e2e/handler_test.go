package e2e

import (
	"context"
	"strings"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// cmdHandler is a worker whose clients drive the API with text commands,
// so that tests exercise every call through a real gateway and worker.
// Each command is answered with "reply: ..." to the sender, after the
// command was issued, so a reply also orders the command before later ones.
type cmdHandler struct {
	businessworker.BaseHandler
	name string
	w    *businessworker.Worker
}

func (h *cmdHandler) OnWorkerStart(_ context.Context, w *businessworker.Worker) { h.w = w }

func (h *cmdHandler) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, m := e.Client, e.Message
	if m.Binary {
		_ = c.Send(ctx, m) // binary: echo as is
		return
	}
	f := strings.SplitN(string(m.Data), " ", 3)
	arg := func(i int) string {
		if i < len(f) {
			return f[i]
		}
		return ""
	}
	rest := func(i int) string { return strings.Join(f[i:], " ") }
	reply := func(s string) { _ = c.Send(ctx, businessworker.Text("reply: "+s)) }
	result := func(err error) {
		if err != nil {
			reply("error: " + err.Error())
			return
		}
		reply("ok")
	}
	w := h.w
	switch f[0] {
	case "id":
		reply(c.ID())
	case "who":
		reply(h.name)
	case "echo":
		_ = c.Send(ctx, businessworker.Text(rest(1)))
	case "join":
		result(w.JoinGroup(ctx, c.ID(), arg(1)))
	case "leave":
		result(w.LeaveGroup(ctx, c.ID(), arg(1)))
	case "ungroup":
		result(w.Ungroup(ctx, arg(1)))
	case "bind":
		result(w.BindUID(ctx, c.ID(), arg(1)))
	case "unbind":
		result(w.UnbindUID(ctx, c.ID(), arg(1)))
	case "all":
		result(w.SendToAll(ctx, businessworker.Text(rest(1))))
	case "allx": // allx id1,id2 text: to all but those
		result(w.SendToAll(ctx, businessworker.Text(arg(2)), businessworker.WithExclude(strings.Split(arg(1), ",")...)))
	case "group": // group G text
		result(w.SendToGroup(ctx, arg(1), businessworker.Text(arg(2))))
	case "groupx": // groupx G text: to the group but the sender
		result(w.SendToGroup(ctx, arg(1), businessworker.Text(arg(2)), businessworker.WithExclude(c.ID())))
	case "uid": // uid U text
		result(w.SendToUID(ctx, arg(1), businessworker.Text(arg(2))))
	case "to": // to ID text
		result(w.SendToClient(ctx, arg(1), businessworker.Text(arg(2))))
	case "kick":
		result(w.CloseClient(ctx, arg(1)))
	case "online":
		ok, err := w.IsOnline(ctx, arg(1))
		if err != nil {
			result(err)
			return
		}
		if ok {
			reply("online")
		} else {
			reply("offline")
		}
	case "set": // set k v: through the handler's session
		c.Session()[arg(1)] = arg(2)
		reply("ok")
	case "get":
		reply(c.Session()[arg(1)])
	case "uidof":
		reply(c.UID())
	default:
		reply("unknown command " + f[0])
	}
}
