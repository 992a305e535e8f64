package pushclient_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/gorilla/websocket"

	"github.com/gatewayworker/gatewayworker/businessworker"
	"github.com/gatewayworker/gatewayworker/pushclient"
)

// demo is what each example below runs on: a register and a gateway in
// this process (in production: "gatewayworker register" and "gatewayworker
// gateway"), a push client p, and browsers connected to the gateway, known
// by name.
type demo struct {
	ctx   context.Context
	p     *pushclient.Client
	ids   map[string]string          // name -> client id
	conns map[string]*websocket.Conn // name -> connection
	stop  func()
}

// newDemo starts the cluster and connects one client per name.
func newDemo(names ...string) *demo {
	ctx, cancel := context.WithCancel(context.Background())
	registerAddr, wsAddr, wait := startCluster(ctx)
	p, err := pushclient.New(pushclient.Config{Registers: []string{registerAddr}})
	if err != nil {
		panic(err)
	}
	d := &demo{ctx: ctx, p: p, ids: map[string]string{}, conns: map[string]*websocket.Conn{}}
	for _, name := range names {
		before, _ := p.Clients(ctx)
		ws, _, err := websocket.DefaultDialer.Dial("ws://"+wsAddr+"/", nil)
		if err != nil {
			panic(err)
		}
		for {
			now, _ := p.Clients(ctx)
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
		_ = p.Close(context.Background())
		cancel()
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
	_ = d.p.Flush(d.ctx)
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

func ExampleNew() {
	p, err := pushclient.New(pushclient.Config{Registers: []string{"127.0.0.1:1236"}, Secret: "s3cret"})
	if err != nil {
		panic(err)
	}
	// p links to the gateways on its first call.
	fmt.Println(len(p.ID()))
	_ = p.Close(context.Background())
	// Output: 32
}

func ExampleClient_Close() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.SendToAll(d.ctx, businessworker.Text("bye"))
	_ = d.p.Flush(d.ctx) // be sure the gateways took it
	fmt.Println(d.p.Close(d.ctx))
	fmt.Println(d.p.SendToAll(d.ctx, businessworker.Text("late")))
	// Output:
	// <nil>
	// businessworker: closed
}

func ExampleClient_SendToAll() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.SendToAll(d.ctx, businessworker.Text("to all"))
	_ = d.p.SendToAll(d.ctx, businessworker.Text("not to bob"), businessworker.WithExclude(d.ids["bob"]))
	_ = d.p.SendToAll(d.ctx, businessworker.Text("only to bob"), businessworker.WithClients(d.ids["bob"]))
	fmt.Println(d.read("ann"), "|", d.read("ann"), "|", d.nothing("ann"))
	fmt.Println(d.read("bob"), "|", d.read("bob"))
	// Output:
	// to all | not to bob | (nothing)
	// to all | only to bob
}

func ExampleClient_SendToClient() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.SendToClient(d.ctx, d.ids["ann"], businessworker.Text("just you"))
	fmt.Println(d.read("ann"))
	fmt.Println(d.p.SendToClient(d.ctx, "not-an-id", businessworker.Text("x")) != nil)
	// Output:
	// just you
	// true
}

func ExampleClient_SendToUID() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["phone"], "user-42")
	_ = d.p.BindUID(d.ctx, d.ids["laptop"], "user-42")
	_ = d.p.SendToUID(d.ctx, "user-42", businessworker.Text("on every device"))
	fmt.Println(d.read("phone"), "|", d.read("laptop"))
	// Output: on every device | on every device
}

func ExampleClient_SendToUIDs() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.p.BindUID(d.ctx, d.ids["bob"], "2")
	_ = d.p.SendToUIDs(d.ctx, []string{"1", "2"}, businessworker.Text("to both"))
	fmt.Println(d.read("ann"), "|", d.read("bob"))
	// Output: to both | to both
}

func ExampleClient_SendToGroup() {
	d := newDemo("ann", "bob", "cid")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "room")
	_ = d.p.SendToGroup(d.ctx, "room", businessworker.Text("to the room, not ann"), businessworker.WithExclude(d.ids["ann"]))
	fmt.Println(d.nothing("ann"), "|", d.read("bob"), "|", d.nothing("cid"))
	// Output: (nothing) | to the room, not ann | (nothing)
}

func ExampleClient_SendToGroups() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "red")
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "blue")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "blue")
	_ = d.p.SendToGroups(d.ctx, []string{"red", "blue"}, businessworker.Text("once each"))
	fmt.Println(d.read("ann"), "|", d.nothing("ann"), "|", d.read("bob"))
	// Output: once each | (nothing) | once each
}

func ExampleClient_CloseClient() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.CloseClient(d.ctx, d.ids["ann"], businessworker.WithLastMessage(businessworker.Text("bye")),
		businessworker.WithCloseCode(4000, "kicked"))
	fmt.Println(d.read("ann"), "|", d.read("ann"))
	// Output: bye | (closed 4000 "kicked")
}

func ExampleClient_DestroyClient() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.DestroyClient(d.ctx, d.ids["ann"])
	fmt.Println(d.read("ann"))
	// Output: (closed 1000 "")
}

func ExampleClient_Flush() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	// Flush returns once the gateways applied the join.
	fmt.Println(d.p.Flush(d.ctx))
	// Output: <nil>
}

func ExampleClient_IsOnline() {
	d := newDemo("ann")
	defer d.stop()
	online, _ := d.p.IsOnline(d.ctx, d.ids["ann"])
	fmt.Println(online)
	_ = d.p.DestroyClient(d.ctx, d.ids["ann"])
	for online {
		online, _ = d.p.IsOnline(d.ctx, d.ids["ann"])
	}
	fmt.Println(online)
	// Output:
	// true
	// false
}

func ExampleClient_BindUID() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "user-1")
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "user-2") // replaces user-1
	uid, _ := d.p.UID(d.ctx, d.ids["ann"])
	fmt.Println(uid)
	// Output: user-2
}

func ExampleClient_UnbindUID() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "user-1")
	_ = d.p.UnbindUID(d.ctx, d.ids["ann"], "user-1")
	uid, _ := d.p.UID(d.ctx, d.ids["ann"])
	fmt.Printf("%q\n", uid)
	// Output: ""
}

func ExampleClient_UID() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "user-1")
	uid, err := d.p.UID(d.ctx, d.ids["ann"])
	fmt.Println(uid, err)
	// Output: user-1 <nil>
}

func ExampleClient_IsUIDOnline() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "user-1")
	on, _ := d.p.IsUIDOnline(d.ctx, "user-1")
	off, _ := d.p.IsUIDOnline(d.ctx, "user-2")
	fmt.Println(on, off)
	// Output: true false
}

func ExampleClient_UIDsOnline() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "user-1")
	online, _ := d.p.UIDsOnline(d.ctx, []string{"user-1", "user-2"})
	fmt.Println(online)
	// Output: map[user-1:true user-2:false]
}

func ExampleClient_ClientsByUID() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["phone"], "user-42")
	_ = d.p.BindUID(d.ctx, d.ids["laptop"], "user-42")
	ids, _ := d.p.ClientsByUID(d.ctx, "user-42")
	fmt.Println(len(ids), slices.Contains(ids, d.ids["phone"]))
	// Output: 2 true
}

func ExampleClient_ClientsByUIDs() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "1")
	byUID, _ := d.p.ClientsByUIDs(d.ctx, []string{"1", "2"})
	fmt.Println(len(byUID["1"]), len(byUID["2"]))
	// Output: 1 0
}

func ExampleClient_UIDs() {
	d := newDemo("ann", "bob", "cid")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.p.BindUID(d.ctx, d.ids["bob"], "2")
	uids, _ := d.p.UIDs(d.ctx)
	fmt.Println(uids)
	// Output: [1 2]
}

func ExampleClient_CountUIDs() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["phone"], "user-42")
	_ = d.p.BindUID(d.ctx, d.ids["laptop"], "user-42")
	n, _ := d.p.CountUIDs(d.ctx)
	fmt.Println(n) // distinct uids
	// Output: 1
}

func ExampleClient_JoinGroup() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	groups, _ := d.p.Groups(d.ctx)
	fmt.Println(groups)
	// Output: [room]
}

func ExampleClient_LeaveGroup() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.p.LeaveGroup(d.ctx, d.ids["ann"], "room")
	n, _ := d.p.CountClientsInGroup(d.ctx, "room")
	fmt.Println(n)
	// Output: 0
}

func ExampleClient_Ungroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "room")
	_ = d.p.Ungroup(d.ctx, "room")
	groups, _ := d.p.Groups(d.ctx)
	fmt.Println(len(groups))
	// Output: 0
}

func ExampleClient_Groups() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "b")
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "a")
	groups, _ := d.p.Groups(d.ctx)
	fmt.Println(groups)
	// Output: [a b]
}

func ExampleClient_ClientsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "room")
	ids, _ := d.p.ClientsInGroup(d.ctx, "room")
	fmt.Println(ids[0] == d.ids["bob"], len(ids))
	// Output: true 1
}

func ExampleClient_CountClientsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "room")
	inRoom, _ := d.p.CountClientsInGroup(d.ctx, "room")
	all, _ := d.p.CountClientsInGroup(d.ctx, "") // "" counts every client
	fmt.Println(inRoom, all)
	// Output: 1 2
}

func ExampleClient_CountClientsInGroups() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "red")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "red")
	counts, _ := d.p.CountClientsInGroups(d.ctx, []string{"red", "blue"})
	fmt.Println(counts)
	// Output: map[blue:0 red:2]
}

func ExampleClient_UIDsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	for name, uid := range map[string]string{"ann": "1", "bob": "2"} {
		_ = d.p.BindUID(d.ctx, d.ids[name], uid)
		_ = d.p.JoinGroup(d.ctx, d.ids[name], "room")
	}
	uids, _ := d.p.UIDsInGroup(d.ctx, "room")
	fmt.Println(uids)
	// Output: [1 2]
}

func ExampleClient_CountUIDsInGroup() {
	d := newDemo("phone", "laptop")
	defer d.stop()
	for _, name := range []string{"phone", "laptop"} {
		_ = d.p.BindUID(d.ctx, d.ids[name], "user-42")
		_ = d.p.JoinGroup(d.ctx, d.ids[name], "room")
	}
	n, _ := d.p.CountUIDsInGroup(d.ctx, "room")
	fmt.Println(n)
	// Output: 1
}

func ExampleClient_AllGroupClients() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	byGroup, _ := d.p.AllGroupClients(d.ctx)
	fmt.Println(byGroup["room"][0] == d.ids["ann"])
	// Output: true
}

func ExampleClient_AllGroupClientCounts() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "red")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "red")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "blue")
	counts, _ := d.p.AllGroupClientCounts(d.ctx)
	fmt.Println(counts)
	// Output: map[blue:1 red:2]
}

func ExampleClient_AllGroupUIDs() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "lobby") // bob has no uid
	uids, _ := d.p.AllGroupUIDs(d.ctx)
	fmt.Println(uids)
	// Output: map[lobby:[] room:[1]]
}

func ExampleClient_AllGroupUIDCounts() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "1")
	_ = d.p.BindUID(d.ctx, d.ids["bob"], "1")
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	_ = d.p.JoinGroup(d.ctx, d.ids["bob"], "room")
	counts, _ := d.p.AllGroupUIDCounts(d.ctx)
	fmt.Println(counts)
	// Output: map[room:1]
}

func ExampleClient_Clients() {
	d := newDemo("ann", "bob")
	defer d.stop()
	ids, _ := d.p.Clients(d.ctx)
	fmt.Println(len(ids), slices.IsSorted(ids))
	// Output: 2 true
}

func ExampleClient_CountClients() {
	d := newDemo("ann", "bob")
	defer d.stop()
	n, _ := d.p.CountClients(d.ctx)
	fmt.Println(n)
	// Output: 2
}

func ExampleClient_SetSession() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.SetSession(d.ctx, d.ids["ann"], map[string]string{"lang": "en", "theme": "dark"})
	_ = d.p.SetSession(d.ctx, d.ids["ann"], map[string]string{"lang": "fr"}) // replaces it all
	s, _ := d.p.Session(d.ctx, d.ids["ann"])
	fmt.Println(s)
	// Output: map[lang:fr]
}

func ExampleClient_UpdateSession() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.SetSession(d.ctx, d.ids["ann"], map[string]string{"lang": "en", "theme": "dark"})
	_ = d.p.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"lang": "fr"}, "theme")
	s, _ := d.p.Session(d.ctx, d.ids["ann"])
	fmt.Println(s)
	// Output: map[lang:fr]
}

func ExampleClient_Session() {
	d := newDemo("ann")
	defer d.stop()
	_ = d.p.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"lang": "en"})
	s, _ := d.p.Session(d.ctx, d.ids["ann"])
	fmt.Println(s["lang"])
	_ = d.p.DestroyClient(d.ctx, d.ids["ann"])
	for {
		if _, err := d.p.Session(d.ctx, d.ids["ann"]); errors.Is(err, businessworker.ErrClientNotFound) {
			fmt.Println(err)
			break
		}
	}
	// Output:
	// en
	// businessworker: client not found
}

func ExampleClient_SessionsInGroup() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"nick": "Ann"})
	_ = d.p.JoinGroup(d.ctx, d.ids["ann"], "room")
	sessions, _ := d.p.SessionsInGroup(d.ctx, "room")
	fmt.Println(len(sessions), sessions[d.ids["ann"]]["nick"])
	// Output: 1 Ann
}

func ExampleClient_AllSessions() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.UpdateSession(d.ctx, d.ids["ann"], map[string]string{"nick": "Ann"})
	sessions, _ := d.p.AllSessions(d.ctx)
	fmt.Println(len(sessions), sessions[d.ids["ann"]]["nick"], len(sessions[d.ids["bob"]]))
	// Output: 2 Ann 0
}

func ExampleClient_Stats() {
	d := newDemo("ann", "bob")
	defer d.stop()
	_ = d.p.BindUID(d.ctx, d.ids["ann"], "1")
	stats, _ := d.p.Stats(d.ctx)
	g := stats[0]
	fmt.Println(len(stats), g.Clients, g.UIDs, g.Workers, g.PushClients)
	// Output: 1 2 1 0 1
}

func ExampleClient_Workers() {
	d := newDemo()
	defer d.stop()
	_ = d.p.Flush(d.ctx) // linked
	fmt.Println(d.p.Workers())
	// Output: []
}

func ExampleClient_ID() {
	var zero pushclient.Client
	fmt.Printf("%q\n", zero.ID()) // the zero Client is not linked
	_, err := zero.CountClients(context.Background())
	fmt.Println(err)
	// Output:
	// ""
	// businessworker: not made by New
}
