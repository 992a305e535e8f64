package discovery

import (
	"cmp"
	"maps"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	pb "github.com/gatewayworker/gatewayworker/proto/gatewayworker/v1"
)

// fuzzGrace is the grace period of FuzzWatchResponse's view.
const fuzzGrace = 4 * time.Second

// FuzzWatchResponse feeds a sequence of register messages to a Watcher's view
// (view.begin and view.update, as Watcher.session calls them), with failovers
// and the passing of time. data is a sequence of frames: an op byte, a length
// byte, then that many bytes unmarshalled as a WatchResponse. op&3 is 0: a
// message on the current stream; 1: the first message of a register failed
// over to; 2: time passes by (op>>2) quarters of the grace period and expired
// gateways are dropped. After every step the reported set must be sorted by
// node id without duplicates, be exactly the session's set plus the held
// gateways, and hold no gateway removed since it was last added.
func FuzzWatchResponse(f *testing.F) {
	gw := func(id uint64, name string) *pb.GatewayInfo {
		return &pb.GatewayInfo{NodeId: id, LanAddr: "127.0.0.1:1", Name: name}
	}
	frame := func(op byte, kind pb.WatchResponse_Kind, gws ...*pb.GatewayInfo) []byte {
		b, err := proto.Marshal(&pb.WatchResponse{Kind: kind, Gateways: gws})
		if err != nil || len(b) > 255 {
			f.Fatalf("seed frame: %v (%d bytes)", err, len(b))
		}
		return append([]byte{op, byte(len(b))}, b...)
	}
	const (
		snap    = pb.WatchResponse_KIND_SNAPSHOT
		added   = pb.WatchResponse_KIND_ADDED
		removed = pb.WatchResponse_KIND_REMOVED
	)
	seed := func(frames ...[]byte) { f.Add(slices.Concat(frames...)) }
	seed(frame(1, snap, gw(3, "c"), gw(1, "a")), frame(0, added, gw(2, "b")), frame(0, removed, gw(1, "")))
	seed(frame(1, snap, gw(1, "a"), gw(2, "b")), frame(1, snap, gw(2, "b")), frame(0, removed, gw(1, "")), []byte{2 | 8<<2, 0})
	seed(frame(1, snap, gw(1, "a"), gw(2, "b")), frame(1, snap), []byte{2 | 3<<2, 0}, frame(0, added, gw(1, "a2")), []byte{2 | 2<<2, 0})
	seed(frame(1, snap, gw(5, "e")), frame(0, snap, gw(6, "f")), frame(0, added, gw(6, "f"), gw(6, "g")), frame(0, removed, gw(6, ""), gw(5, "")))
	seed(frame(1, snap, gw(1, "a"), gw(2, "b")), frame(1, snap, gw(2, "b")), frame(0, pb.WatchResponse_KIND_UNSPECIFIED, gw(1, "")), []byte{2, 0})
	seed(frame(1, snap, gw(7, "g")), frame(1, added, gw(8, "h")), frame(0, 99, gw(7, "")), frame(0, snap, gw(7, "g"), gw(7, "g2"), gw(0, "")))
	f.Add([]byte{1, 3, 0x08, 0x01, 0x12})

	f.Fuzz(func(t *testing.T, data []byte) {
		var last []*pb.GatewayInfo
		reports := 0
		v := &view{grace: fuzzGrace, held: map[uint64]held{}, onChange: func(gws []*pb.GatewayInfo) {
			last = gws
			reports++
		}}
		now := time.Unix(1_000_000, 0)
		var set map[uint64]*pb.GatewayInfo // nil: no session
		gone := map[uint64]bool{}          // removed and not added since

		for len(data) >= 2 {
			op, n := data[0], int(data[1])
			data = data[2:]
			n = min(n, len(data))
			r := &pb.WatchResponse{}
			bad := proto.Unmarshal(data[:n], r) != nil
			data = data[n:]

			switch op & 3 {
			case 0, 1:
				if bad {
					set = nil // the stream breaks
					continue
				}
				for _, g := range r.GetGateways() {
					switch r.GetKind() {
					case pb.WatchResponse_KIND_REMOVED:
						if set != nil && op&3 == 0 {
							gone[g.GetNodeId()] = true
						}
					case pb.WatchResponse_KIND_ADDED:
						if set != nil && op&3 == 0 {
							delete(gone, g.GetNodeId())
						}
					case pb.WatchResponse_KIND_SNAPSHOT:
						if set != nil || op&3 == 1 {
							delete(gone, g.GetNodeId())
						}
					}
				}
				switch {
				case op&3 == 1 && r.GetKind() != pb.WatchResponse_KIND_SNAPSHOT:
					set = nil // protocol error: the session fails
					continue
				case op&3 == 1:
					set, _ = v.begin(r, now)
				case set == nil:
					continue // no stream: nothing is received
				default:
					v.update(set, r, now)
				}
			default:
				now = now.Add(time.Duration(op>>2) * fuzzGrace / 4)
				if set == nil {
					continue // held gateways expire in a session only
				}
				if next, ok := v.nextExpiry(); ok && !next.After(now) && v.expire(now) {
					v.report(set)
				}
			}

			// The reported set is the session's set plus the held gateways.
			if reports == 0 {
				t.Fatal("a session started without a report")
			}
			want := maps.Clone(set)
			for id, h := range v.held {
				if _, dup := set[id]; dup {
					t.Fatalf("gateway %x both held and in the set", id)
				}
				if op&3 == 2 && !h.until.After(now) {
					t.Fatalf("gateway %x held past its grace", id)
				}
				want[id] = h.info
			}
			checkReport(t, last, want, gone)
		}
	})
}

// checkReport asserts that got is sorted by node id, unique, equal to want
// and free of gone gateways.
func checkReport(t *testing.T, got []*pb.GatewayInfo, want map[uint64]*pb.GatewayInfo, gone map[uint64]bool) {
	t.Helper()
	if !slices.IsSortedFunc(got, func(a, b *pb.GatewayInfo) int { return cmp.Compare(a.GetNodeId(), b.GetNodeId()) }) {
		t.Fatalf("reported set not sorted: %v", ids(got))
	}
	for i, g := range got {
		if i > 0 && got[i-1].GetNodeId() == g.GetNodeId() {
			t.Fatalf("reported set has node %x twice", g.GetNodeId())
		}
		if gone[g.GetNodeId()] {
			t.Fatalf("reported set %v holds removed node %x", ids(got), g.GetNodeId())
		}
		if w, ok := want[g.GetNodeId()]; !ok || !proto.Equal(w, g) {
			t.Fatalf("reported %v, want %v", ids(got), slices.Sorted(maps.Keys(want)))
		}
	}
	if len(got) != len(want) {
		t.Fatalf("reported %v, want %v", ids(got), slices.Sorted(maps.Keys(want)))
	}
}

func ids(gws []*pb.GatewayInfo) []uint64 {
	out := make([]uint64, len(gws))
	for i, g := range gws {
		out[i] = g.GetNodeId()
	}
	return out
}

// A message of an unknown kind is ignored (found by FuzzWatchResponse: it
// used to release a held gateway without reporting the smaller set).
func TestViewIgnoresUnknownKind(t *testing.T) {
	var last []*pb.GatewayInfo
	v := &view{grace: time.Minute, held: map[uint64]held{}, onChange: func(gws []*pb.GatewayInfo) { last = gws }}
	now := time.Now()
	gw := func(id uint64) *pb.GatewayInfo { return &pb.GatewayInfo{NodeId: id} }
	v.begin(&pb.WatchResponse{Kind: pb.WatchResponse_KIND_SNAPSHOT, Gateways: []*pb.GatewayInfo{gw(1), gw(2)}}, now)
	set, n := v.begin(&pb.WatchResponse{Kind: pb.WatchResponse_KIND_SNAPSHOT, Gateways: []*pb.GatewayInfo{gw(2)}}, now)
	if n != 1 || !slices.Equal(ids(last), []uint64{1, 2}) {
		t.Fatalf("failover: %d held, reported %v; want 1 held, [1 2]", n, ids(last))
	}
	v.update(set, &pb.WatchResponse{Kind: pb.WatchResponse_KIND_UNSPECIFIED, Gateways: []*pb.GatewayInfo{gw(1)}}, now)
	if _, ok := v.held[1]; !ok || !slices.Equal(ids(last), []uint64{1, 2}) {
		t.Fatalf("unknown kind changed the view: held %v, reported %v", v.held, ids(last))
	}
}
