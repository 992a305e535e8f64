package gwproto

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"net/netip"
	"strconv"
)

// ClientIDLen is the length of a GatewayWorker client id.
const ClientIDLen = 20

// ClientID is GatewayWorker's client id: the gateway's internal address
// (lanIp:lanPort, where workers connect) and a per-gateway connection
// number.
type ClientID struct {
	IP           uint32 // IPv4, big-endian (ip2long)
	Port         uint16
	ConnectionID uint32
}

// String returns the 20 lower-case hex characters of
// pack('NnN', ip, port, connection_id).
func (id ClientID) String() string {
	var raw [10]byte
	binary.BigEndian.PutUint32(raw[0:], id.IP)
	binary.BigEndian.PutUint16(raw[4:], id.Port)
	binary.BigEndian.PutUint32(raw[6:], id.ConnectionID)
	return hex.EncodeToString(raw[:])
}

// Addr returns "ip:port" as GatewayClient prints it (long2ip).
func (id ClientID) Addr() string { return FormatAddr(id.IP, id.Port) }

// ParseClientID parses the 20-hex form (upper case accepted).
func ParseClientID(s string) (ClientID, error) {
	if len(s) != ClientIDLen {
		return ClientID{}, fmt.Errorf("%w: client id %q: want %d hex characters", ErrMalformed, clip(s), ClientIDLen)
	}
	var raw [10]byte
	if _, err := hex.Decode(raw[:], []byte(s)); err != nil {
		return ClientID{}, fmt.Errorf("%w: client id %q: %v", ErrMalformed, s, err)
	}
	return ClientID{
		IP:           binary.BigEndian.Uint32(raw[0:]),
		Port:         binary.BigEndian.Uint16(raw[4:]),
		ConnectionID: binary.BigEndian.Uint32(raw[6:]),
	}, nil
}

// FormatAddr prints an IPv4 address and port as "a.b.c.d:port".
func FormatAddr(ip uint32, port uint16) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], ip)
	return netip.AddrFrom4(b).String() + ":" + strconv.Itoa(int(port))
}

// ParseAddr parses "a.b.c.d:port" into GatewayWorker's numeric form. Only
// IPv4 addresses exist in GatewayWorker's ids.
func ParseAddr(s string) (ip uint32, port uint16, err error) {
	ap, err := netip.ParseAddrPort(s)
	if err != nil {
		return 0, 0, fmt.Errorf("gwproto: address %q: %w", s, err)
	}
	a := ap.Addr().Unmap()
	if !a.Is4() {
		return 0, 0, fmt.Errorf("gwproto: address %q: GatewayWorker client ids need an IPv4 address", s)
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:]), ap.Port(), nil
}

// IPv4 returns the numeric form of an IPv4 address, 0 for anything else
// (PHP's ip2long of an IPv6 address is false, packed as 0).
func IPv4(a netip.Addr) uint32 {
	a = a.Unmap()
	if !a.Is4() {
		return 0
	}
	b := a.As4()
	return binary.BigEndian.Uint32(b[:])
}

func clip(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
