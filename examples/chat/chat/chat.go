// Package chat is the seed document's two Workerman examples as one
// gatewayworker worker: a group chat (every message a client sends goes,
// unchanged and with its type, to every client on every gateway, the sender
// included) and a timed broadcast (every tick, the current Unix time in
// seconds as decimal text, to every client).
//
// Unlike the Workerman originals, this runs with any number of gateway and
// worker processes on any number of hosts: the gateways fan the messages out,
// and the tick runs on one worker of the cluster at a time (the leader), so
// clients get one tick per interval however many workers run.
package chat

import (
	"context"
	"log/slog"
	"strconv"
	"time"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// DefaultTick is the interval of the timed broadcast, as in the seed.
const DefaultTick = 10 * time.Second

// Handler handles the events of the chat. Set Tick before the worker runs;
// a negative Tick turns the timed broadcast off, zero means DefaultTick.
type Handler struct {
	businessworker.BaseHandler

	Tick   time.Duration
	Logger *slog.Logger // nil: no logging

	w *businessworker.Worker
}

// OnWorkerStart keeps the worker for sending and starts the timed broadcast.
func (h *Handler) OnWorkerStart(ctx context.Context, w *businessworker.Worker) {
	h.w = w
	tick := h.Tick
	if tick == 0 {
		tick = DefaultTick
	}
	if tick < 0 {
		return
	}
	w.Every(tick, func(ctx context.Context) {
		now := strconv.FormatInt(time.Now().Unix(), 10)
		if err := w.SendToAll(ctx, businessworker.Text(now)); err != nil && h.Logger != nil {
			h.Logger.Warn("chat: timed broadcast", "err", err)
		}
	}, businessworker.WithLeaderOnly())
}

// OnMessage sends the message, unchanged, to every client.
func (h *Handler) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, msg := e.Client, e.Message
	if err := h.w.SendToAll(ctx, msg); err != nil && h.Logger != nil {
		h.Logger.Warn("chat: broadcast", "client", c.ID(), "err", err)
	}
}
