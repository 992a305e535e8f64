package businessworker_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
)

// demo is what each API example below runs on: a register and a gateway
// in this process (in production: "gatewayworker register" and
// "gatewayworker gateway"), a running worker w (its embedded API is what the
// examples call; a handler calls the same methods), and browsers connected
// to the gateway, known by name.
type demo struct {
	ctx   context.Context
	w     *businessworker.Worker
	ids   map[string]string          // name -> client id
	conns map[string]*websocket.Conn // name -> connection
	stop  func()
}

// newDemo starts the cluster and connects one client per name.
func newDemo(names ...string) *demo {
	ctx, cancel := context.WithCancel(context.Background())
	registerAddr, wsAddr, wait := startRegisterAndGateway(ctx)
	w, err := businessworker.New(businessworker.Config{Registers: []string{registerAddr}, Handler: businessworker.BaseHandler{}})
	if err != nil {
		panic(err)
	}
	ran := make(chan struct{})
	go func() { _ = w.Run(ctx); close(ran) }()
	for len(w.Workers()) == 0 {
		time.Sleep(5 * time.Millisecond)
	}
	d := &demo{ctx: ctx, w: w, ids: map[string]string{}, conns: map[string]*websocket.Conn{}}
	for _, name := range names {
		before, _ := w.Clients(ctx)
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/", nil)
		if err != nil {
			panic(err)
		}
		for {
			now, _ := w.Clients(ctx)
			if len(now) > len(before) {
				for _, id := range now {
					if !slices.Contains(before, id) {
						d.ids[name] = id
					}
				}
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
		d.conns[name] = ws
	}
	d.stop = func() {
		for _, ws := range d.conns {
			_ = ws.Close()
		}
		cancel()
		<-ran
		wait()
	}
	return d
}

// read returns the next message name's browser gets (waiting up to 5 s), or
// how the connection ended.
func (d *demo) read(name string) string { return d.readWithin(name, 5*time.Second) }

// nothing checks that name's browser gets nothing more: once the gateways
// applied every command (Flush), no message comes within a short while.
func (d *demo) nothing(name string) string {
	_ = d.w.Flush(d.ctx)
	return d.readWithin(name, 100*time.Millisecond)
}

func (d *demo) readWithin(name string, wait time.Duration) string {
	ws := d.conns[name]
	_ = ws.SetReadDeadline(time.Now().Add(wait))
	_, msg, err := ws.ReadMessage()
	if err != nil {
		var ce *websocket.CloseError
		if errors.As(err, &ce) {
			return fmt.Sprintf("(closed %d %q)", ce.Code, ce.Text)
		}
		return "(nothing)"
	}
	return string(msg)
}

func ExampleAPI_SendToAll() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.SendToAll(d.ctx, businessworker.Text("to all"))
	_ = d.w.SendToAll(d.ctx, businessworker.Text("not to bob"), businessworker.WithExclude(d.ids["bob"]))
	_ = d.w.SendToAll(d.ctx, businessworker.Text("only to bob"), businessworker.WithClients(d.ids["bob"]))
	fmt.Println(d.read("ann"), "|", d.read("ann"), "|", d.nothing("ann"))
	fmt.Println(d.read("bob"), "|", d.read("bob"))
	// Output:
	// to all | not to bob | (nothing)
	// to all | only to bob
}

func ExampleAPI_SendToClient() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.SendToClient(d.ctx, d.ids["ann"], businessworker.Text("just you"))
	fmt.Println(d.read("ann"))
	fmt.Println(d.w.SendToClient(d.ctx, "not-an-id", businessworker.Text("x")) != nil)
	// Output:
	// just you
	// true
}

func ExampleAPI_SendToUID() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["phone"], "user-42")
	_ = d.w.BindUID(d.ctx, d.ids["laptop"], "user-42")
	_ = d.w.SendToUID(d.ctx, "user-42", businessworker.Text("on every device"))
	fmt.Println(d.read("phone"), "|", d.read("laptop"))
	// Output: on every device | on every device
}

func ExampleAPI_SendToUIDs() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.w.BindUID(d.ctx, d.ids["bob"], "2")
	_ = d.w.SendToUIDs(d.ctx, []string{"1", "2"}, businessworker.Text("to both"))
	fmt.Println(d.read("ann"), "|", d.read("bob"))
	// Output: to both | to both
}

func ExampleAPI_SendToGroup() {
	d := newDemo("ann", "bob", "cid")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "room")
	_ = d.w.SendToGroup(d.ctx, "room", businessworker.Text("to the room, not ann"), businessworker.WithExclude(d.ids["ann"]))
	fmt.Println(d.nothing("ann"), "|", d.read("bob"), "|", d.nothing("cid"))
	// Output: (nothing) | to the room, not ann | (nothing)
}

func ExampleAPI_SendToGroups() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "red")
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "blue")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "blue")
	_ = d.w.SendToGroups(d.ctx, []string{"red", "blue"}, businessworker.Text("once each"))
	fmt.Println(d.read("ann"), "|", d.nothing("ann"), "|", d.read("bob"))
	// Output: once each | (nothing) | once each
}

func ExampleAPI_CloseClient() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.CloseClient(d.ctx, d.ids["ann"], businessworker.WithLastMessage(businessworker.Text("bye")),
		businessworker.WithCloseCode(4000, "kicked"))
	fmt.Println(d.read("ann"), "|", d.read("ann"))
	// Output: bye | (closed 4000 "kicked")
}

func ExampleAPI_DestroyClient() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.DestroyClient(d.ctx, d.ids["ann"])
	fmt.Println(d.read("ann"))
	// Output: (closed 1000 "")
}

func ExampleAPI_Flush() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	// Flush returns once the gateways applied the join.
	fmt.Println(d.w.Flush(d.ctx))
	// Output: <nil>
}

func ExampleAPI_IsOnline() {
	d := newDemo("ann")
	defer d.stop()
	online, _ := d.w.IsOnline(d.ctx, d.ids["ann"])
	fmt.Println(online)
	_ = d.w.DestroyClient(d.ctx, d.ids["ann"])
	for online {
		online, _ = d.w.IsOnline(d.ctx, d.ids["ann"])
	}
	fmt.Println(online)
	// Output:
	// true
	// false
}

func ExampleAPI_BindUID() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "user-1")
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "user-2") // replaces user-1
	uid, _ := d.w.UID(d.ctx, d.ids["ann"])
	fmt.Println(uid)
	// Output: user-2
}

func ExampleAPI_UnbindUID() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "user-1")
	_ = d.w.UnbindUID(d.ctx, d.ids["ann"], "user-1")
	uid, _ := d.w.UID(d.ctx, d.ids["ann"])
	fmt.Printf("%q\n", uid)
	// Output: ""
}

func ExampleAPI_UID() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "user-1")
	uid, err := d.w.UID(d.ctx, d.ids["ann"])
	fmt.Println(uid, err)
	// Output: user-1 <nil>
}

func ExampleAPI_IsUIDOnline() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "user-1")
	on, _ := d.w.IsUIDOnline(d.ctx, "user-1")
	off, _ := d.w.IsUIDOnline(d.ctx, "user-2")
	fmt.Println(on, off)
	// Output: true false
}

func ExampleAPI_UIDsOnline() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "user-1")
	online, _ := d.w.UIDsOnline(d.ctx, []string{"user-1", "user-2"})
	fmt.Println(online)
	// Output: map[user-1:true user-2:false]
}

func ExampleAPI_ClientsByUID() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["phone"], "user-42")
	_ = d.w.BindUID(d.ctx, d.ids["laptop"], "user-42")
	ids, _ := d.w.ClientsByUID(d.ctx, "user-42")
	fmt.Println(len(ids), slices.Contains(ids, d.ids["phone"]))
	// Output: 2 true
}

func ExampleAPI_ClientsByUIDs() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "1")
	byUID, _ := d.w.ClientsByUIDs(d.ctx, []string{"1", "2"})
	fmt.Println(len(byUID["1"]), len(byUID["2"]))
	// Output: 1 0
}

func ExampleAPI_UIDs() {
	d := newDemo("ann", "bob", "cid")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.w.BindUID(d.ctx, d.ids["bob"], "2")
	uids, _ := d.w.UIDs(d.ctx)
	fmt.Println(uids)
	// Output: [1 2]
}

func ExampleAPI_CountUIDs() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["phone"], "user-42")
	_ = d.w.BindUID(d.ctx, d.ids["laptop"], "user-42")
	n, _ := d.w.CountUIDs(d.ctx)
	fmt.Println(n) // distinct uids
	// Output: 1
}

func ExampleAPI_JoinGroup() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	groups, _ := d.w.Groups(d.ctx)
	fmt.Println(groups)
	// Output: [room]
}

func ExampleAPI_LeaveGroup() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.w.LeaveGroup(d.ctx, d.ids["ann"], "room")
	n, _ := d.w.CountClientsInGroup(d.ctx, "room")
	fmt.Println(n)
	// Output: 0
}

func ExampleAPI_Ungroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "room")
	_ = d.w.Ungroup(d.ctx, "room")
	groups, _ := d.w.Groups(d.ctx)
	fmt.Println(len(groups))
	// Output: 0
}

func ExampleAPI_Groups() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "b")
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "a")
	groups, _ := d.w.Groups(d.ctx)
	fmt.Println(groups)
	// Output: [a b]
}

func ExampleAPI_ClientsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "room")
	ids, _ := d.w.ClientsInGroup(d.ctx, "room")
	fmt.Println(ids[0] == d.ids["bob"], len(ids))
	// Output: true 1
}

func ExampleAPI_CountClientsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "room")
	inRoom, _ := d.w.CountClientsInGroup(d.ctx, "room")
	all, _ := d.w.CountClientsInGroup(d.ctx, "") // "" counts every client
	fmt.Println(inRoom, all)
	// Output: 1 2
}

func ExampleAPI_CountClientsInGroups() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "red")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "red")
	counts, _ := d.w.CountClientsInGroups(d.ctx, []string{"red", "blue"})
	fmt.Println(counts)
	// Output: map[blue:0 red:2]
}

func ExampleAPI_UIDsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	for name, uid := range map[string]string{"ann": "1", "bob": "2"} {
		_ = d.w.BindUID(d.ctx, d.ids[name], uid)
		_ = d.w.JoinGroup(d.ctx, d.ids[name], "room")
	}
	uids, _ := d.w.UIDsInGroup(d.ctx, "room")
	fmt.Println(uids)
	// Output: [1 2]
}

func ExampleAPI_CountUIDsInGroup() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	for _, name := range []string{"phone", "laptop"} {
		_ = d.w.BindUID(d.ctx, d.ids[name], "user-42")
		_ = d.w.JoinGroup(d.ctx, d.ids[name], "room")
	}
	n, _ := d.w.CountUIDsInGroup(d.ctx, "room")
	fmt.Println(n)
	// Output: 1
}

func ExampleAPI_AllGroupClients() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	byGroup, _ := d.w.AllGroupClients(d.ctx)
	fmt.Println(byGroup["room"][0] == d.ids["ann"])
	// Output: true
}

func ExampleAPI_AllGroupClientCounts() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "red")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "red")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "blue")
	counts, _ := d.w.AllGroupClientCounts(d.ctx)
	fmt.Println(counts)
	// Output: map[blue:1 red:2]
}

func ExampleAPI_AllGroupUIDs() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "lobby") // bob has no uid
	uids, _ := d.w.AllGroupUIDs(d.ctx)
	fmt.Println(uids)
	// Output: map[lobby:[] room:[1]]
}

func ExampleAPI_AllGroupUIDCounts() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.w.BindUID(d.ctx, d.ids["bob"], "1")
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.w.JoinGroup(d.ctx, d.ids["bob"], "room")
	counts, _ := d.w.AllGroupUIDCounts(d.ctx)
	fmt.Println(counts)
	// Output: map[room:1]
}

func ExampleAPI_Clients() {
	d := newDemo("ann", "bob")
	defer d.stop()
	ids, _ := d.w.Clients(d.ctx)
	fmt.Println(len(ids), slices.IsSorted(ids))
	// Output: 2 true
}

func ExampleAPI_CountClients() {
	d := newDemo("ann", "bob")
	defer d.stop()
	n, _ := d.w.CountClients(d.ctx)
	fmt.Println(n)
	// Output: 2
}

func ExampleAPI_SetSession() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.SetSession(d.ctx, d.ids["ann"], map[string]string{"lang": "en", "theme": "dark"})
	_ = d.w.SetSession(d.ctx, d.ids["ann"], map[string]string{"lang": "fr"}) // replaces it all
	s, _ := d.w.Session(d.ctx, d.ids["ann"])
	fmt.Println(s)
	// Output: map[lang:fr]
}

func ExampleAPI_UpdateSession() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.SetSession(d.ctx, d.ids["ann"], map[string]string{"lang": "en", "theme": "dark"})
	_ = d.w.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"lang": "fr"}, "theme")
	s, _ := d.w.Session(d.ctx, d.ids["ann"])
	fmt.Println(s)
	// Output: map[lang:fr]
}

func ExampleAPI_Session() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.w.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"lang": "en"})
	s, _ := d.w.Session(d.ctx, d.ids["ann"])
	fmt.Println(s["lang"])
	_ = d.w.DestroyClient(d.ctx, d.ids["ann"])
	for {
		if _, err := d.w.Session(d.ctx, d.ids["ann"]); errors.Is(err, businessworker.ErrClientNotFound) {
			fmt.Println(err)
			break
		}
	}
	// Output:
	// en
	// businessworker: client not found
}

func ExampleAPI_SessionsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"nick": "Ann"})
	_ = d.w.JoinGroup(d.ctx, d.ids["ann"], "room")
	sessions, _ := d.w.SessionsInGroup(d.ctx, "room")
	fmt.Println(len(sessions), sessions[d.ids["ann"]]["nick"])
	// Output: 1 Ann
}

func ExampleAPI_AllSessions() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"nick": "Ann"})
	sessions, _ := d.w.AllSessions(d.ctx)
	fmt.Println(len(sessions), sessions[d.ids["ann"]]["nick"], len(sessions[d.ids["bob"]]))
	// Output: 2 Ann 0
}

func ExampleAPI_Stats() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.w.BindUID(d.ctx, d.ids["ann"], "1")
	stats, _ := d.w.Stats(d.ctx)
	g := stats[0]
	fmt.Println(len(stats), g.Clients, g.UIDs, g.Workers)
	// Output: 1 2 1 1
}

func ExampleAPI_Workers() {
	d := newDemo()
	defer d.stop()
	fmt.Println(len(d.w.Workers()), d.w.Workers()[0] == d.w.ID())
	// Output: 1 true
}

func ExampleAPI() {
	var zero businessworker.API // not made by New: calls fail, none panics
	_, err := zero.CountClients(context.Background())
	fmt.Println(err)
	// Output: businessworker: not made by New
}
