package wsconn

import (
	"encoding/binary"
	"unicode/utf8"
)

// Opcodes of RFC 6455 section 5.2.
const (
	opContinuation = 0x0
	opText         = 0x1
	opBinary       = 0x2
	opClose        = 0x8
	opPing         = 0x9
	opPong         = 0xA

	finBit = 0x80

	// maxControlPayload is the largest control frame payload (section 5.5).
	maxControlPayload = 125
	// maxCloseReason is the room left for a reason after the 2-byte code.
	maxCloseReason = maxControlPayload - 2
)

// FrameSize returns the encoded size of a server frame (unmasked) carrying
// payloadLen bytes: the 2, 4 or 10 byte header plus the payload.
func FrameSize(payloadLen int) int {
	switch {
	case payloadLen < 126:
		return 2 + payloadLen
	case payloadLen <= 0xFFFF:
		return 4 + payloadLen
	default:
		return 10 + payloadLen
	}
}

// appendHeader appends a final, unmasked frame header.
func appendHeader(dst []byte, op byte, n int) []byte {
	b0 := finBit | op
	switch {
	case n < 126:
		return append(dst, b0, byte(n))
	case n <= 0xFFFF:
		return binary.BigEndian.AppendUint16(append(dst, b0, 126), uint16(n))
	default:
		return binary.BigEndian.AppendUint64(append(dst, b0, 127), uint64(n))
	}
}

func appendFrame(dst []byte, op byte, payload []byte) []byte {
	if n := FrameSize(len(payload)); cap(dst)-len(dst) < n {
		grown := make([]byte, len(dst), len(dst)+n)
		copy(grown, dst)
		dst = grown
	}
	return append(appendHeader(dst, op, len(payload)), payload...)
}

// AppendMessage appends a final, unmasked text (or binary) frame carrying
// payload to dst and returns the extended buffer. The caller checks that a
// text payload is valid UTF-8. With a dst of enough capacity it does not
// allocate.
func AppendMessage(dst []byte, binary bool, payload []byte) []byte {
	op := byte(opText)
	if binary {
		op = opBinary
	}
	return appendFrame(dst, op, payload)
}

// AppendPing appends a ping frame. A payload longer than 125 bytes is
// truncated to 125.
func AppendPing(dst, payload []byte) []byte {
	return appendFrame(dst, opPing, payload[:min(len(payload), maxControlPayload)])
}

// AppendPong appends a pong frame (the answer to a ping carries the ping's
// payload). A payload longer than 125 bytes is truncated to 125.
func AppendPong(dst, payload []byte) []byte {
	return appendFrame(dst, opPong, payload[:min(len(payload), maxControlPayload)])
}

// AppendClose appends a close frame with code and reason. The reason is
// truncated to fit the 125-byte control payload, on a rune boundary. A code
// that may not be sent on the wire (0, 1005, 1006, 1015, see ValidCloseCode)
// yields a close frame with an empty payload and no reason.
func AppendClose(dst []byte, code uint16, reason string) []byte {
	if !ValidCloseCode(code) {
		return appendFrame(dst, opClose, nil)
	}
	if len(reason) > maxCloseReason {
		cut := maxCloseReason
		for cut > 0 && !utf8.RuneStart(reason[cut]) {
			cut--
		}
		reason = reason[:cut]
	}
	n := 2 + len(reason)
	dst = appendHeader(dst, opClose, n)
	dst = binary.BigEndian.AppendUint16(dst, code)
	return append(dst, reason...)
}
