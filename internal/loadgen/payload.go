package loadgen

import "fmt"

// PayloadSize is the size of an encoded Message without padding.
const PayloadSize = 32

// PadByte fills a payload beyond PayloadSize when a larger size is asked for.
const PadByte = '.'

// Message is what every workload message carries. It is encoded as 32 ASCII
// hex digits so it is valid UTF-8 text and a valid JSON string body:
// 8 for Sender, 8 for Seq, 16 for Sent.
type Message struct {
	// Sender is the run-wide id of the sending connection.
	Sender uint32
	// Seq counts the messages of one sender, from 0.
	Seq uint32
	// Sent is the send time in nanoseconds since the run's epoch (Clock).
	Sent int64
}

const hexDigits = "0123456789abcdef"

// AppendPayload appends m encoded, padded with PadByte to size bytes when size
// is larger than PayloadSize, and returns the extended slice. It does not
// allocate when dst has room.
func AppendPayload(dst []byte, m Message, size int) []byte {
	dst = appendHex(dst, uint64(m.Sender), 8)
	dst = appendHex(dst, uint64(m.Seq), 8)
	dst = appendHex(dst, uint64(m.Sent), 16)
	for i := PayloadSize; i < size; i++ {
		dst = append(dst, PadByte)
	}
	return dst
}

func appendHex(dst []byte, v uint64, digits int) []byte {
	for i := digits - 1; i >= 0; i-- {
		dst = append(dst, hexDigits[(v>>(uint(i)*4))&0xf])
	}
	return dst
}

// ParsePayload decodes the first PayloadSize bytes of b; padding after them
// is ignored.
func ParsePayload(b []byte) (Message, error) {
	if len(b) < PayloadSize {
		return Message{}, fmt.Errorf("%w: %d bytes, want at least %d", ErrBadPayload, len(b), PayloadSize)
	}
	sender, ok1 := parseHex(b[0:8])
	seq, ok2 := parseHex(b[8:16])
	sent, ok3 := parseHex(b[16:32])
	if !ok1 || !ok2 || !ok3 {
		return Message{}, fmt.Errorf("%w: not hex", ErrBadPayload)
	}
	return Message{Sender: uint32(sender), Seq: uint32(seq), Sent: int64(sent)}, nil
}

func parseHex(b []byte) (uint64, bool) {
	var v uint64
	for _, c := range b {
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		default:
			return 0, false
		}
		v = v<<4 | uint64(d)
	}
	return v, true
}
