// Package rooms is a browser chat with nicknames, rooms and private
// messages, as one gatewayworker worker:
//
//   - a nickname is the client's uid (BindUID), so one person may be online
//     from several tabs or devices and private messages reach all of them;
//   - a room is a group (JoinGroup); messages go to the room's members;
//   - the online list of a room is the uids of its members
//     (UIDsInGroup), sent to the room whenever someone comes or goes;
//   - anything pushed from outside (gatewayworker send-to-all TEXT, the
//     HTTP API) shows in the page as a server notice.
//
// Clients and worker speak JSON text frames; see Inbound and Outbound.
package rooms

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"unicode/utf8"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// Limits on what a client sends.
const (
	// MaxName is the longest nickname or room name, in characters.
	MaxName = 32
	// MaxText is the longest message text, in bytes.
	MaxText = 4096
	// DefaultRoom is the room a client enters when it names none.
	DefaultRoom = "lobby"
)

// Inbound is a message from a client.
//
//	{"type":"login","name":"ann","room":"lobby"}
//	{"type":"say","text":"hello room"}
//	{"type":"pm","to":"bob","text":"hello bob"}
//	{"type":"join","room":"games"}
type Inbound struct {
	Type string `json:"type"`
	Name string `json:"name,omitempty"`
	Room string `json:"room,omitempty"`
	To   string `json:"to,omitempty"`
	Text string `json:"text,omitempty"`
}

// Outbound is a message to clients. Type is one of welcome, say, pm,
// joined, left, online, error.
type Outbound struct {
	Type  string   `json:"type"`
	Room  string   `json:"room,omitempty"`
	From  string   `json:"from,omitempty"`
	To    string   `json:"to,omitempty"`
	Name  string   `json:"name,omitempty"`
	Text  string   `json:"text,omitempty"`
	Names []string `json:"names,omitempty"`
}

// Session keys.
const (
	keyName = "name"
	keyRoom = "room"
)

// Handler handles the chat's events.
type Handler struct {
	businessworker.BaseHandler
	// Logger receives failed sends; nil discards.
	Logger *slog.Logger
}

func (h *Handler) log() *slog.Logger {
	if h.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return h.Logger
}

// OnMessage handles one Inbound message.
func (h *Handler) OnMessage(ctx context.Context, e businessworker.MessageEvent) {
	c, m := e.Client, e.Message
	var in Inbound
	if m.Binary || json.Unmarshal(m.Data, &in) != nil {
		h.reply(ctx, c, Outbound{Type: "error", Text: "send JSON text messages"})
		return
	}
	s := c.Session()
	name, room := s[keyName], s[keyRoom]
	if in.Type != "login" && name == "" {
		h.reply(ctx, c, Outbound{Type: "error", Text: "log in first"})
		return
	}
	var err error
	switch in.Type {
	case "login":
		err = h.login(ctx, c, in)
	case "say":
		if err = checkText(in.Text); err == nil {
			err = c.Worker().SendToGroup(ctx, room, encode(Outbound{Type: "say", Room: room, From: name, Text: in.Text}))
		}
	case "pm":
		err = h.private(ctx, c, name, in)
	case "join":
		err = h.move(ctx, c, in.Room)
	default:
		err = fmt.Errorf("unknown type %q", in.Type)
	}
	if err != nil {
		h.reply(ctx, c, Outbound{Type: "error", Text: err.Error()})
	}
}

// OnClose tells the client's room that it left.
func (h *Handler) OnClose(ctx context.Context, e businessworker.CloseEvent) {
	c := e.Client
	s := c.Session()
	if s[keyName] == "" {
		return
	}
	w := c.Worker()
	if err := w.SendToGroup(ctx, s[keyRoom], encode(Outbound{Type: "left", Room: s[keyRoom], Name: s[keyName]})); err != nil {
		h.log().Warn("rooms: left", "err", err)
	}
	h.online(ctx, w, s[keyRoom])
}

func (h *Handler) login(ctx context.Context, c *businessworker.Client, in Inbound) error {
	if c.Session()[keyName] != "" {
		return errors.New("already logged in")
	}
	if in.Room == "" {
		in.Room = DefaultRoom
	}
	if err := checkName("name", in.Name); err != nil {
		return err
	}
	if err := checkName("room", in.Room); err != nil {
		return err
	}
	w := c.Worker()
	if err := w.BindUID(ctx, c.ID(), in.Name); err != nil {
		return err
	}
	s := c.Session()
	s[keyName] = in.Name
	h.reply(ctx, c, Outbound{Type: "welcome", Name: in.Name})
	return h.enter(ctx, c, in.Room)
}

// enter puts the client in room and announces it there.
func (h *Handler) enter(ctx context.Context, c *businessworker.Client, room string) error {
	w, s := c.Worker(), c.Session()
	if err := w.JoinGroup(ctx, c.ID(), room); err != nil {
		return err
	}
	s[keyRoom] = room
	if err := w.SendToGroup(ctx, room, encode(Outbound{Type: "joined", Room: room, Name: s[keyName]})); err != nil {
		return err
	}
	h.online(ctx, w, room)
	return nil
}

// move takes the client from its room to another.
func (h *Handler) move(ctx context.Context, c *businessworker.Client, room string) error {
	if err := checkName("room", room); err != nil {
		return err
	}
	w, s := c.Worker(), c.Session()
	old := s[keyRoom]
	if old == room {
		return nil
	}
	if err := w.LeaveGroup(ctx, c.ID(), old); err != nil {
		return err
	}
	if err := w.SendToGroup(ctx, old, encode(Outbound{Type: "left", Room: old, Name: s[keyName]})); err != nil {
		return err
	}
	h.online(ctx, w, old)
	return h.enter(ctx, c, room)
}

// private sends a message to every device of a nickname and, as a copy,
// to every device of the sender.
func (h *Handler) private(ctx context.Context, c *businessworker.Client, from string, in Inbound) error {
	if err := checkText(in.Text); err != nil {
		return err
	}
	w := c.Worker()
	online, err := w.IsUIDOnline(ctx, in.To)
	if err != nil {
		return err
	}
	if !online {
		return fmt.Errorf("%s is not online", in.To)
	}
	return w.SendToUIDs(ctx, []string{in.To, from}, encode(Outbound{Type: "pm", From: from, To: in.To, Text: in.Text}))
}

// online sends room's online list to its members. Commands from one worker
// are applied in order, so the list includes the joins sent before.
func (h *Handler) online(ctx context.Context, w *businessworker.Worker, room string) {
	names, err := w.UIDsInGroup(ctx, room)
	if err == nil {
		err = w.SendToGroup(ctx, room, encode(Outbound{Type: "online", Room: room, Names: names}))
	}
	if err != nil {
		h.log().Warn("rooms: online list", "room", room, "err", err)
	}
}

func (h *Handler) reply(ctx context.Context, c *businessworker.Client, out Outbound) {
	if err := c.Send(ctx, encode(out)); err != nil {
		h.log().Warn("rooms: reply", "client", c.ID(), "err", err)
	}
}

func encode(out Outbound) businessworker.Message {
	b, _ := json.Marshal(out) // strings and slices only: cannot fail
	return businessworker.Message{Data: b}
}

func checkName(what, s string) error {
	if s == "" || utf8.RuneCountInString(s) > MaxName || strings.TrimSpace(s) != s || !utf8.ValidString(s) {
		return fmt.Errorf("%s: 1 to %d characters, no leading or trailing space", what, MaxName)
	}
	return nil
}

func checkText(s string) error {
	if s == "" || len(s) > MaxText {
		return fmt.Errorf("text: 1 to %d bytes", MaxText)
	}
	return nil
}
