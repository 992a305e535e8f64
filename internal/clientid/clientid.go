// Package clientid defines client ids: a gateway's random 64-bit node id and
// the gateway's per-connection sequence number, printed as 32 hex characters.
//
// A worker routes a command to a client by the node id alone. A restarted
// gateway draws a new node id, so a client id issued before the restart can
// never address a client connected after it.
package clientid

import (
	"encoding/hex"
	"errors"
	"fmt"
)

// Len is the length of a printed client id.
const Len = 32

// ErrInvalid is returned by Parse for anything but 32 hex characters with a
// nonzero node id.
var ErrInvalid = errors.New("clientid: invalid client id")

// ID identifies one client connection in the whole cluster.
type ID struct {
	Node uint64 // gateway node id, never 0 in a valid id
	Conn uint64 // connection sequence on that gateway
}

// String returns the 32-character lower-case hex form.
func (id ID) String() string {
	var b [Len]byte
	return string(id.Append(b[:0]))
}

// Append appends the 32-character hex form to dst.
func (id ID) Append(dst []byte) []byte {
	var raw [16]byte
	putUint64(raw[0:8], id.Node)
	putUint64(raw[8:16], id.Conn)
	return hex.AppendEncode(dst, raw[:])
}

// Valid reports whether id could have been issued by a gateway.
func (id ID) Valid() bool { return id.Node != 0 }

// Parse parses the form produced by String (upper-case hex is accepted).
func Parse(s string) (ID, error) {
	if len(s) != Len {
		return ID{}, fmt.Errorf("%w: %q: want %d hex characters", ErrInvalid, truncate(s), Len)
	}
	var raw [16]byte
	if _, err := hex.Decode(raw[:], []byte(s)); err != nil {
		return ID{}, fmt.Errorf("%w: %q: %v", ErrInvalid, truncate(s), err)
	}
	id := ID{Node: getUint64(raw[0:8]), Conn: getUint64(raw[8:16])}
	if !id.Valid() {
		return ID{}, fmt.Errorf("%w: %q: node id is zero", ErrInvalid, s)
	}
	return id, nil
}

// FormatNode prints a node id as 16 hex characters.
func FormatNode(node uint64) string {
	var raw [8]byte
	putUint64(raw[:], node)
	return hex.EncodeToString(raw[:])
}

func putUint64(b []byte, v uint64) {
	for i := 7; i >= 0; i-- {
		b[i] = byte(v)
		v >>= 8
	}
}

func getUint64(b []byte) uint64 {
	var v uint64
	for i := 0; i < 8; i++ {
		v = v<<8 | uint64(b[i])
	}
	return v
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
