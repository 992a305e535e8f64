package register

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// Gossip messages between ClusterStores: one version byte, then JSON. The
// gateway info inside is the protobuf encoding of pb.GatewayInfo.
const wireVersion = 1

// errWire reports an undecodable gossip message.
var errWire = errors.New("register: bad gossip message")

// wireEntry is one lease, or its removal, as its owner saw it.
type wireEntry struct {
	Node    uint64 `json:"n"`
	Owner   string `json:"o"`
	Version int64  `json:"v"`           // owner's clock (Unix ns) at the change
	TTLms   int64  `json:"t,omitempty"` // lease TTL
	Deleted bool   `json:"d,omitempty"` // removal
	Info    []byte `json:"i,omitempty"` // pb.GatewayInfo, unless Deleted
}

// wireState is the full set of leases one register owns (push/pull sync).
type wireState struct {
	Owner   string      `json:"o"`
	At      int64       `json:"a"` // owner's clock (Unix ns) when built
	Entries []wireEntry `json:"e"`
}

func encodeWire(v any) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append([]byte{wireVersion}, b...), nil
}

func decodeWire(b []byte, v any) error {
	if len(b) == 0 || b[0] != wireVersion {
		return fmt.Errorf("%w: unknown version", errWire)
	}
	if err := json.Unmarshal(b[1:], v); err != nil {
		return fmt.Errorf("%w: %w", errWire, err)
	}
	return nil
}

// decodeEntry decodes and checks one entry broadcast.
func decodeEntry(b []byte) (wireEntry, *pb.GatewayInfo, error) {
	var e wireEntry
	if err := decodeWire(b, &e); err != nil {
		return e, nil, err
	}
	info, err := e.check()
	return e, info, err
}

// decodeState decodes and checks a full state.
func decodeState(b []byte) (wireState, []*pb.GatewayInfo, error) {
	var s wireState
	if err := decodeWire(b, &s); err != nil {
		return s, nil, err
	}
	infos := make([]*pb.GatewayInfo, len(s.Entries))
	for i := range s.Entries {
		if s.Entries[i].Owner != s.Owner || s.Entries[i].Deleted {
			return s, nil, fmt.Errorf("%w: foreign entry in state", errWire)
		}
		info, err := s.Entries[i].check()
		if err != nil {
			return s, nil, err
		}
		infos[i] = info
	}
	return s, infos, nil
}

// check validates e and decodes its gateway info (nil when Deleted).
func (e *wireEntry) check() (*pb.GatewayInfo, error) {
	if e.Node == 0 || e.Owner == "" {
		return nil, fmt.Errorf("%w: entry without node or owner", errWire)
	}
	if e.Deleted {
		return nil, nil
	}
	if e.TTLms <= 0 || e.TTLms > int64(24*time.Hour/time.Millisecond) {
		return nil, fmt.Errorf("%w: TTL %d ms", errWire, e.TTLms)
	}
	info := &pb.GatewayInfo{}
	if err := proto.Unmarshal(e.Info, info); err != nil {
		return nil, fmt.Errorf("%w: %w", errWire, err)
	}
	if info.GetNodeId() != e.Node || !validGateway(info) {
		return nil, fmt.Errorf("%w: invalid gateway info", errWire)
	}
	return info, nil
}

// entryOf returns the wire form of l.
func entryOf(l *lease) wireEntry {
	b, _ := proto.Marshal(l.info) // a GatewayInfo always marshals
	return wireEntry{Node: l.info.GetNodeId(), Owner: l.owner, Version: l.version, TTLms: l.ttl.Milliseconds(), Info: b}
}
