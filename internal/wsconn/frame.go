package wsconn

// Default limits applied when a Limits field is zero (or negative).
const (
	DefaultMaxFrameSize   = 1 << 20 // bytes of payload in one frame
	DefaultMaxMessageSize = 1 << 20 // bytes of payload in one reassembled message
)

// Limits bounds what a client may send. Zero values mean the defaults.
type Limits struct {
	// MaxFrameSize is the largest payload of one data frame; a bigger frame is
	// refused with CloseTooBig before its payload is read.
	MaxFrameSize int64
	// MaxMessageSize is the largest total payload of a (fragmented) message; a
	// frame that would take the message past it is refused with CloseTooBig
	// before its payload is read.
	MaxMessageSize int64
}

func (l Limits) frame() int64 {
	if l.MaxFrameSize <= 0 {
		return DefaultMaxFrameSize
	}
	return l.MaxFrameSize
}

func (l Limits) message() int64 {
	if l.MaxMessageSize <= 0 {
		return DefaultMaxMessageSize
	}
	return l.MaxMessageSize
}

// Close codes sent or received by the gateway.
//
//	Code  Name                   Sent when
//	1000  CloseNormal            orderly close (server kicks a client, echo of the client's close)
//	1001  CloseGoingAway         the gateway shuts down
//	1002  CloseProtocolError     the client broke RFC 6455 (unmasked frame, bad opcode, RSV bits, bad fragments, bad close payload)
//	1003  CloseUnsupported       the client sent a data type the application does not accept
//	1007  CloseInvalidPayload    invalid UTF-8 in a text message or a close reason
//	1008  ClosePolicyViolation   the application refused the client (generic policy reason)
//	1009  CloseTooBig            a frame or message passed Limits
//	1011  CloseInternalError     the gateway failed unexpectedly
//	4000  CloseSlowConsumer      the client's write queue passed its byte budget or a write deadline passed
//	4001  CloseHeartbeatTimeout  no pong or data from the client within the heartbeat window
//	4002  CloseRateLimited       the client sent messages faster than allowed
//
// 1005 (no code received) is reported in Frame.CloseCode for a close frame
// without a payload; it is never sent on the wire. 4000-4999 are private-use
// codes (RFC 6455 section 7.4.2): these three are gatewayworker's own.
const (
	CloseNormal           = 1000
	CloseGoingAway        = 1001
	CloseProtocolError    = 1002
	CloseUnsupported      = 1003
	CloseNoStatus         = 1005
	CloseInvalidPayload   = 1007
	ClosePolicyViolation  = 1008
	CloseTooBig           = 1009
	CloseInternalError    = 1011
	CloseTryAgainLater    = 1013
	CloseSlowConsumer     = 4000
	CloseHeartbeatTimeout = 4001
	CloseRateLimited      = 4002
)

// ValidCloseCode reports whether code may appear in a close frame on the wire
// (RFC 6455 section 7.4): 1000-1003, 1007-1014 and 3000-4999.
func ValidCloseCode(code uint16) bool {
	switch {
	case code >= 1000 && code <= 1003:
		return true
	case code >= 1007 && code <= 1014:
		return true
	case code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// Kind is what ReadFrame found.
type Kind uint8

// Kinds of frames returned by ReadFrame.
const (
	// KindNone: a non-final fragment was consumed; nothing to do yet.
	KindNone Kind = iota
	// KindMessage: a whole text or binary message.
	KindMessage
	// KindPing: a ping; the caller answers with AppendPong(Payload).
	KindPing
	// KindPong: a pong.
	KindPong
	// KindClose: a close frame; the caller echoes it and closes.
	KindClose
)

// String returns the kind's name.
func (k Kind) String() string {
	switch k {
	case KindNone:
		return "none"
	case KindMessage:
		return "message"
	case KindPing:
		return "ping"
	case KindPong:
		return "pong"
	case KindClose:
		return "close"
	}
	return "unknown"
}

// Frame is one result of ReadFrame.
type Frame struct {
	Kind Kind
	// Binary is set for a KindMessage whose opcode was binary.
	Binary bool
	// Payload is, for KindMessage, the whole message in a fresh allocation
	// owned by the caller; for KindPing and KindPong the control payload
	// (at most 125 bytes), valid until the next ReadFrame.
	Payload []byte
	// CloseCode is, for KindClose, the code the peer sent (CloseNoStatus if
	// the frame had no payload).
	CloseCode uint16
	// CloseReason is, for KindClose, the peer's (valid UTF-8) reason.
	CloseReason string
}
