// Package shootout is a gatewayworker worker speaking the protocol of the
// public websocket-shootout benchmark (github.com/hashrocket/websocket-shootout),
// so that benchmark's own client (websocket-bench) runs against a
// gatewayworker cluster unchanged.
//
// Clients send JSON text messages {"type": ..., "payload": ...}:
//
//   - "echo": the message goes back, unchanged, to its sender;
//   - "broadcast": {"type":"broadcast","payload":P} goes to every client
//     (the sender included), then {"type":"broadcastResult","payload":P} to
//     the sender.
//
// Anything else is ignored. The payload is passed through as raw JSON, never
// decoded; the gateways encode each broadcast frame once and write it to
// every client.
package shootout

import (
	"context"
	"encoding/json"
	"log/slog"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// Message types of the protocol.
const (
	TypeEcho            = "echo"
	TypeBroadcast       = "broadcast"
	TypeBroadcastResult = "broadcastResult"
)

// Handler handles the events of the shootout protocol.
type Handler struct {
	businessworker.BaseHandler

	Logger *slog.Logger // nil: no logging

	w *businessworker.Worker
}

// OnWorkerStart keeps the worker for sending.
func (h *Handler) OnWorkerStart(_ context.Context, w *businessworker.Worker) { h.w = w }

// envelope is an incoming message; the payload stays raw.
type envelope struct {
	Type    string          `json:"type"`
	Payload json.RawMessage `json:"payload"`
}

// OnMessage answers echo and broadcast messages.
func (h *Handler) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, msg := e.Client, e.Message
	var in envelope
	if msg.Binary || json.Unmarshal(msg.Data, &in) != nil {
		return
	}
	var err error
	switch in.Type {
	case TypeEcho:
		err = c.Send(ctx, msg)
	case TypeBroadcast:
		// Two sends from one worker reach a gateway in order: every
		// client, the sender included, has the broadcast before the sender
		// has its result.
		if err = h.w.SendToAll(ctx, businessworker.Message{Data: Encode(TypeBroadcast, in.Payload)}); err == nil {
			err = c.Send(ctx, businessworker.Message{Data: Encode(TypeBroadcastResult, in.Payload)})
		}
	default:
		return
	}
	if err != nil && h.Logger != nil {
		h.Logger.Warn("shootout: send", "client", c.ID(), "type", in.Type, "err", err)
	}
}

// Encode returns {"type":typ,"payload":payload}; typ must not need JSON
// escaping and payload must be valid JSON (null when empty).
func Encode(typ string, payload json.RawMessage) []byte {
	if len(payload) == 0 {
		payload = json.RawMessage("null")
	}
	b := make([]byte, 0, len(`{"type":"","payload":}`)+len(typ)+len(payload))
	b = append(b, `{"type":"`...)
	b = append(b, typ...)
	b = append(b, `","payload":`...)
	b = append(b, payload...)
	return append(b, '}')
}
