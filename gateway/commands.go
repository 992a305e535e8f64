package gateway

import (
	"fmt"
	"maps"

	"github.com/gatewayworker/gatewayworker/internal/wsconn"
	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// smallExclude is the exclude list length up to which a linear scan beats
// building a set.
const smallExclude = 8

// commander applies one link's commands, in order, on the link's receive
// goroutine. Its scratch sets are reused from command to command.
type commander struct {
	g       *Gateway
	exclude []uint64
	exSet   map[uint64]struct{}
	seen    map[*conn]struct{}

	// msg is the message of the send in progress, deliveredCompressed its
	// recipients sent the compressed frame (compression.go).
	msg                 outMessage
	deliveredCompressed int
	// delivered tallies the recipients of the send in progress (metrics.go).
	delivered int
	// hello: the link's Hello was applied.
	hello bool
}

// applyAll applies a LinkRequest: its commands in order, then its acks (a
// worker's commands sent before an event's ack are applied before the ack
// lets the client's next events be read: see conn.awaitConnect). A
// request that breaks the protocol (a second Hello, an ack of a seq never
// sent, a command of an unknown kind) is an ErrLinkProtocol error: the
// caller ends the link.
func (cm *commander) applyAll(l *link, req *pb.LinkRequest) error {
	if req.GetHello() != nil && cm.hello {
		return fmt.Errorf("%w: second hello", ErrLinkProtocol)
	}
	cm.hello = true
	for _, cmd := range req.GetCommands() {
		if cmd.GetOp() == nil && len(cmd.ProtoReflect().GetUnknown()) > 0 {
			return fmt.Errorf("%w: command of an unknown kind", ErrLinkProtocol)
		}
		rep := cm.apply(cmd)
		if cmd.GetId() != 0 {
			if rep == nil {
				rep = &pb.Reply{}
			}
			rep.Id = cmd.GetId()
			l.reply(rep)
		}
	}
	if a := req.GetAck(); a != 0 {
		if err := l.ack(1, a); err != nil {
			return err
		}
	}
	for _, r := range req.GetAcks() {
		if err := l.ack(r.GetFirst(), r.GetLast()); err != nil {
			return err
		}
	}
	return nil
}

// apply runs one command and returns its reply (nil: empty reply).
func (cm *commander) apply(cmd *pb.Command) *pb.Reply {
	g := cm.g
	switch op := cmd.GetOp().(type) {
	case nil:
		return nil // flush
	case *pb.Command_Send:
		return cm.send(op.Send)
	case *pb.Command_JoinGroup:
		return cm.groups(op.JoinGroup, g.hub.join)
	case *pb.Command_LeaveGroup:
		return cm.groups(op.LeaveGroup, g.hub.leave)
	case *pb.Command_Ungroup:
		for _, name := range op.Ungroup.GetGroups() {
			g.hub.ungroup(name)
		}
		return nil
	case *pb.Command_BindUid:
		if op.BindUid.GetUid() == "" {
			return errReply(fmt.Errorf("%w: empty uid", ErrBadCommand))
		}
		return cm.uid(op.BindUid.GetConn(), op.BindUid.GetUid(), "")
	case *pb.Command_UnbindUid:
		return cm.uid(op.UnbindUid.GetConn(), "", op.UnbindUid.GetUid())
	case *pb.Command_SetSession:
		return cm.setSession(op.SetSession)
	case *pb.Command_CloseClient:
		return cm.closeClient(op.CloseClient)
	case *pb.Command_Query:
		return cm.query(op.Query)
	default:
		return errReply(fmt.Errorf("%w: unknown op %T", ErrBadCommand, op))
	}
}

func errReply(err error) *pb.Reply { return &pb.Reply{Error: err.Error()} }

func notFound(conn uint64) *pb.Reply {
	return errReply(fmt.Errorf("%w: conn %d", ErrClientNotFound, conn))
}

// send encodes the frame once and queues the same bytes for every target;
// clients that negotiated compression share one compressed frame instead
// (compression.go).
func (cm *commander) send(s *pb.Send) *pb.Reply {
	if s.GetTarget() < pb.Send_TARGET_ALL || s.GetTarget() > pb.Send_TARGET_GROUPS {
		return errReply(fmt.Errorf("%w: send target %v", ErrBadCommand, s.GetTarget()))
	}
	frame := wsconn.AppendMessage(make([]byte, 0, wsconn.FrameSize(len(s.GetData()))), s.GetBinary(), s.GetData())
	cm.msg = outMessage{data: s.GetData(), binary: s.GetBinary()}
	cm.setExclude(s.GetExclude())
	h := &cm.g.hub
	switch s.GetTarget() {
	case pb.Send_TARGET_ALL:
		h.forEach(func(c *conn) {
			if !cm.excluded(c.seq) {
				cm.deliver(c, frame)
			}
		})
	case pb.Send_TARGET_CLIENTS:
		for _, seq := range s.GetConns() {
			if cm.excluded(seq) {
				continue
			}
			if c := h.get(seq); c != nil {
				cm.deliver(c, frame)
			}
		}
	case pb.Send_TARGET_UIDS:
		// A client has one uid: no duplicates unless a uid is listed twice.
		cm.sendDedup(s.GetUids(), frame, h.forUID)
	case pb.Send_TARGET_GROUPS:
		cm.sendDedup(s.GetGroups(), frame, h.forGroup)
	}
	cm.countSend(s)
	cm.countCompressed(frame)
	return nil
}

// sendDedup sends frame to the members of every name, each client once.
func (cm *commander) sendDedup(names []string, frame []byte, each func(string, func(*conn))) {
	if len(names) == 1 {
		each(names[0], func(c *conn) {
			if !cm.excluded(c.seq) {
				cm.deliver(c, frame)
			}
		})
		return
	}
	if cm.seen == nil {
		cm.seen = make(map[*conn]struct{})
	}
	for _, name := range names {
		each(name, func(c *conn) {
			if _, dup := cm.seen[c]; dup || cm.excluded(c.seq) {
				return
			}
			cm.seen[c] = struct{}{}
			cm.deliver(c, frame)
		})
	}
	clear(cm.seen)
}

func (cm *commander) setExclude(ex []uint64) {
	cm.exclude = ex
	if len(ex) <= smallExclude {
		return
	}
	if cm.exSet == nil {
		cm.exSet = make(map[uint64]struct{}, len(ex))
	}
	clear(cm.exSet)
	for _, seq := range ex {
		cm.exSet[seq] = struct{}{}
	}
}

func (cm *commander) excluded(seq uint64) bool {
	if len(cm.exclude) <= smallExclude {
		for _, e := range cm.exclude {
			if e == seq {
				return true
			}
		}
		return false
	}
	_, ok := cm.exSet[seq]
	return ok
}

// groups joins or leaves groups.
func (cm *commander) groups(op *pb.Groups, fn func(*conn, string) bool) *pb.Reply {
	c := cm.g.hub.get(op.GetConn())
	if c == nil {
		return notFound(op.GetConn())
	}
	for _, name := range op.GetGroups() {
		if name == "" {
			return errReply(fmt.Errorf("%w: empty group name", ErrBadCommand))
		}
		if !fn(c, name) {
			return notFound(op.GetConn())
		}
	}
	return nil
}

func (cm *commander) uid(seq uint64, uid, only string) *pb.Reply {
	c := cm.g.hub.get(seq)
	if c == nil || !cm.g.hub.setUID(c, uid, only) {
		return notFound(seq)
	}
	return nil
}

// setSession replaces or merges a client's session. The session map is
// replaced, never modified, because queued events share it.
func (cm *commander) setSession(op *pb.SetSession) *pb.Reply {
	c := cm.g.hub.get(op.GetConn())
	if c == nil {
		return notFound(op.GetConn())
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state == stateClosed {
		return notFound(op.GetConn())
	}
	var next map[string]string
	if op.GetMerge() {
		next = make(map[string]string, len(c.session)+len(op.GetSession()))
		maps.Copy(next, c.session)
		maps.Copy(next, op.GetSession())
		for _, k := range op.GetDelete() {
			delete(next, k)
		}
	} else {
		// The request message is not reused by gRPC: keep its map.
		next = op.GetSession()
	}
	if len(next) == 0 {
		next = nil
	}
	size := 0
	for k, v := range next {
		size += len(k) + len(v) + 4
	}
	c.session, c.sessionSize = next, size
	c.sessionVer++
	return nil
}

// closeClient closes a client, optionally after a last message.
func (cm *commander) closeClient(op *pb.CloseClient) *pb.Reply {
	code := uint16(wsconn.CloseNormal)
	if op.GetCode() != 0 {
		if op.GetCode() > 0xffff || !wsconn.ValidCloseCode(uint16(op.GetCode())) {
			return errReply(fmt.Errorf("%w: invalid close code %d", ErrBadCommand, op.GetCode()))
		}
		code = uint16(op.GetCode())
	}
	c := cm.g.hub.get(op.GetConn())
	if c == nil {
		return notFound(op.GetConn())
	}
	var last []byte
	if op.GetHasData() {
		last = wsconn.AppendMessage(nil, op.GetBinary(), op.GetData())
	}
	mode := closeDrain
	if op.GetImmediate() {
		mode = closeNow
	}
	if !c.closeWith(code, op.GetReason(), mode, last) && c.isClosed() {
		return notFound(op.GetConn())
	}
	return nil
}
