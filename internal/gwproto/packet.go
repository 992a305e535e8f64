package gwproto

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
)

// Commands of GatewayProtocol (the values of the cmd byte).
const (
	CmdOnConnect                  = 1
	CmdOnMessage                  = 3
	CmdOnClose                    = 4
	CmdSendToOne                  = 5
	CmdSendToAll                  = 6
	CmdKick                       = 7
	CmdDestroy                    = 8
	CmdUpdateSession              = 9
	CmdGetAllClientSessions       = 10
	CmdIsOnline                   = 11
	CmdBindUID                    = 12
	CmdUnbindUID                  = 13
	CmdSendToUID                  = 14
	CmdGetClientIDByUID           = 15
	CmdBatchGetClientIDByUID      = 16
	CmdJoinGroup                  = 20
	CmdLeaveGroup                 = 21
	CmdSendToGroup                = 22
	CmdGetClientSessionsByGroup   = 23
	CmdGetClientCountByGroup      = 24
	CmdSelect                     = 25
	CmdGetGroupIDList             = 26
	CmdUngroup                    = 27
	CmdBatchGetClientCountByGroup = 28
	CmdWorkerConnect              = 200
	CmdPing                       = 201
	CmdGatewayClientConnect       = 202
	CmdGetSessionByClientID       = 203
	CmdSetSession                 = 204
	CmdOnWebSocketConnect         = 205
)

// Flags of the flag byte.
const (
	// FlagBodyIsScalar: the body is the bytes themselves; without it the
	// body is a PHP serialize()d value.
	FlagBodyIsScalar = 0x01
	// FlagNotCallEncode: the sender encoded the body for the client's
	// protocol already ($raw = true).
	FlagNotCallEncode = 0x02
)

// HeaderLen is the length of the fixed header.
const HeaderLen = 28

// DefaultMaxPacket is the packet size limit used when a reader is given 0.
const DefaultMaxPacket = 16 << 20

// ErrMalformed is wrapped by every decoding error of this package.
var ErrMalformed = errors.New("gwproto: malformed input")

// ErrTooLarge is wrapped when a packet is over the reader's limit.
var ErrTooLarge = errors.New("gwproto: packet too large")

// Header is the fixed part of a packet. IPs are IPv4 addresses as
// big-endian uint32 (PHP's ip2long).
type Header struct {
	Cmd          uint8
	LocalIP      uint32
	LocalPort    uint16
	ClientIP     uint32
	ClientPort   uint16
	ConnectionID uint32
	Flag         uint8
	GatewayPort  uint16
}

// Packet is one GatewayProtocol packet. Ext and Body alias the buffer they
// were read into only until the next ReadPacket on the same Reader when
// read with Reader; AppendPacket copies them.
type Packet struct {
	Header
	Ext  []byte
	Body []byte
}

// Len returns the encoded length of p.
func (p *Packet) Len() int { return HeaderLen + len(p.Ext) + len(p.Body) }

// AppendPacket appends the encoding of p to dst. The body is written as
// it is: set FlagBodyIsScalar unless Body is a serialize()d value.
func AppendPacket(dst []byte, p *Packet) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(p.Len()))
	dst = append(dst, p.Cmd)
	dst = binary.BigEndian.AppendUint32(dst, p.LocalIP)
	dst = binary.BigEndian.AppendUint16(dst, p.LocalPort)
	dst = binary.BigEndian.AppendUint32(dst, p.ClientIP)
	dst = binary.BigEndian.AppendUint16(dst, p.ClientPort)
	dst = binary.BigEndian.AppendUint32(dst, p.ConnectionID)
	dst = append(dst, p.Flag)
	dst = binary.BigEndian.AppendUint16(dst, p.GatewayPort)
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(p.Ext)))
	dst = append(dst, p.Ext...)
	return append(dst, p.Body...)
}

// DecodePacket decodes one whole packet (b is exactly one packet). Ext and
// Body alias b.
func DecodePacket(b []byte) (Packet, error) {
	var p Packet
	if len(b) < HeaderLen {
		return p, fmt.Errorf("%w: packet of %d bytes, shorter than the header", ErrMalformed, len(b))
	}
	n := binary.BigEndian.Uint32(b)
	if uint64(n) != uint64(len(b)) {
		return p, fmt.Errorf("%w: pack_len %d, packet has %d bytes", ErrMalformed, n, len(b))
	}
	p.Cmd = b[4]
	p.LocalIP = binary.BigEndian.Uint32(b[5:])
	p.LocalPort = binary.BigEndian.Uint16(b[9:])
	p.ClientIP = binary.BigEndian.Uint32(b[11:])
	p.ClientPort = binary.BigEndian.Uint16(b[15:])
	p.ConnectionID = binary.BigEndian.Uint32(b[17:])
	p.Flag = b[21]
	p.GatewayPort = binary.BigEndian.Uint16(b[22:])
	ext := binary.BigEndian.Uint32(b[24:])
	if uint64(ext) > uint64(len(b)-HeaderLen) {
		return p, fmt.Errorf("%w: ext_len %d past the packet end", ErrMalformed, ext)
	}
	p.Ext = b[HeaderLen : HeaderLen+int(ext)]
	p.Body = b[HeaderLen+int(ext):]
	return p, nil
}

// keepBuffer is the largest read buffer a Reader keeps between packets.
const keepBuffer = 64 << 10

// Reader reads packets from a stream.
type Reader struct {
	r   *bufio.Reader
	max int
	buf []byte
}

// NewReader returns a Reader of packets of at most maxPacket bytes
// (DefaultMaxPacket if 0).
func NewReader(r io.Reader, maxPacket int) *Reader {
	if maxPacket <= 0 {
		maxPacket = DefaultMaxPacket
	}
	return &Reader{r: bufio.NewReaderSize(r, 16<<10), max: maxPacket}
}

// SetMaxPacket changes the packet size limit (DefaultMaxPacket if 0), e.g.
// once a peer authenticated.
func (r *Reader) SetMaxPacket(maxPacket int) {
	if maxPacket <= 0 {
		maxPacket = DefaultMaxPacket
	}
	r.max = maxPacket
}

// ReadPacket reads the next packet. The packet's slices are valid until
// the next call. It returns io.EOF at a clean end between packets, and
// io.ErrUnexpectedEOF inside one.
func (r *Reader) ReadPacket() (Packet, error) {
	head, err := r.r.Peek(4)
	if err != nil {
		if errors.Is(err, io.EOF) && len(head) > 0 {
			return Packet{}, io.ErrUnexpectedEOF
		}
		return Packet{}, err
	}
	n := binary.BigEndian.Uint32(head)
	if n < HeaderLen {
		return Packet{}, fmt.Errorf("%w: pack_len %d shorter than the header", ErrMalformed, n)
	}
	if uint64(n) > uint64(r.max) {
		return Packet{}, fmt.Errorf("%w: pack_len %d over %d", ErrTooLarge, n, r.max)
	}
	if cap(r.buf) < int(n) || (cap(r.buf) > keepBuffer && int(n) <= keepBuffer) {
		// Grown for a large packet: do not keep it for small ones.
		r.buf = make([]byte, max(n, 512))
	}
	b := r.buf[:n]
	if _, err := io.ReadFull(r.r, b); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return Packet{}, err
	}
	return DecodePacket(b)
}

// AppendReply appends a query reply: the length of the serialized value
// (4 bytes, big-endian) and the value.
func AppendReply(dst []byte, serialized []byte) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(serialized)))
	return append(dst, serialized...)
}

// ReadReply reads one query reply of at most maxLen bytes of value.
func ReadReply(r io.Reader, maxLen int) ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(r, h[:]); err != nil {
		return nil, err
	}
	n := binary.BigEndian.Uint32(h[:])
	if maxLen <= 0 {
		maxLen = DefaultMaxPacket
	}
	if uint64(n) > uint64(maxLen) {
		return nil, fmt.Errorf("%w: reply of %d bytes over %d", ErrTooLarge, n, maxLen)
	}
	b := make([]byte, n)
	if _, err := io.ReadFull(r, b); err != nil {
		return nil, err
	}
	return b, nil
}
