package businessworker

import (
	"fmt"

	"github.com/gatewayworker/gatewayworker/internal/clientid"
)

// SendOption modifies a SendToAll or SendToGroup call.
type SendOption func(*sendOptions)

type sendOptions struct {
	exclude    []string
	clients    []string
	hasClients bool
}

// WithExclude leaves the given clients out.
func WithExclude(clientIDs ...string) SendOption {
	return func(o *sendOptions) { o.exclude = append(o.exclude, clientIDs...) }
}

// WithClients limits SendToAll to the given clients (GatewayWorker's
// sendToAll with $client_id_array). An empty list sends to nobody. It is
// not valid for SendToGroup.
func WithClients(clientIDs ...string) SendOption {
	return func(o *sendOptions) {
		o.clients = append(o.clients, clientIDs...)
		o.hasClients = true
	}
}

// byNode parses client ids and groups their conns by gateway.
func byNode(ids []string) (map[uint64][]uint64, error) {
	if len(ids) == 0 {
		return nil, nil
	}
	m := make(map[uint64][]uint64)
	for _, s := range ids {
		id, err := parseID(s)
		if err != nil {
			return nil, err
		}
		m[id.Node] = append(m[id.Node], id.Conn)
	}
	return m, nil
}

func parseID(s string) (clientid.ID, error) {
	id, err := clientid.Parse(s)
	if err != nil {
		return clientid.ID{}, fmt.Errorf("%w: %w", ErrInvalidClientID, err)
	}
	return id, nil
}

// TimerOption modifies Every.
type TimerOption func(*timerOptions)

type timerOptions struct{ leaderOnly bool }

// WithLeaderOnly runs the function only on the worker that holds the
// leader lease at the tick (see Worker.IsLeader); its ctx is cancelled when
// the lease term ends and carries the fencing token (LeaderToken).
func WithLeaderOnly() TimerOption { return func(o *timerOptions) { o.leaderOnly = true } }

// CloseOption modifies CloseClient.
type CloseOption func(*closeOptions)

type closeOptions struct {
	last      *Message
	code      uint32
	reason    string
	immediate bool
}

// WithLastMessage sends m before the close frame.
func WithLastMessage(m Message) CloseOption { return func(o *closeOptions) { o.last = &m } }

// WithCloseCode sets the WebSocket close code and reason (default 1000).
func WithCloseCode(code uint16, reason string) CloseOption {
	return func(o *closeOptions) { o.code, o.reason = uint32(code), reason }
}

// WithImmediate closes at once, dropping messages still queued for the client
// (GatewayWorker's destoryClient), instead of closing after they are written.
func WithImmediate() CloseOption { return func(o *closeOptions) { o.immediate = true } }
