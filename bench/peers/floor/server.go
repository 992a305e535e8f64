package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"net/url"

	"golang.org/x/sys/unix"
)

const (
	maxEvents  = 1024
	readBuf    = 64 << 10
	maxPayload = 64 << 10
	wsGUID     = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
)

type conn struct {
	fd       int
	upgraded bool
	group    string // the ?group= of the request URI, "" if none
	in       []byte // bytes read and not yet parsed
	out      []byte // bytes not yet written (send buffer was full)
}

type server struct {
	lfd, epfd int
	stopR     int // read end of the stop pipe, in the epoll set
	stopW     int
	conns     map[int]*conn
	groups    map[string]map[int]*conn // members of each named group
	buf       []byte
	frame     []byte // the broadcast frame being built, reused
}

func newServer(ap netip.AddrPort) (*server, error) {
	lfd, err := unix.Socket(unix.AF_INET, unix.SOCK_STREAM|unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("socket: %w", err)
	}
	if err := unix.SetsockoptInt(lfd, unix.SOL_SOCKET, unix.SO_REUSEADDR, 1); err != nil {
		return nil, fmt.Errorf("reuseaddr: %w", err)
	}
	if err := unix.Bind(lfd, &unix.SockaddrInet4{Port: int(ap.Port()), Addr: ap.Addr().As4()}); err != nil {
		return nil, fmt.Errorf("bind %s: %w", ap, err)
	}
	if err := unix.Listen(lfd, 4096); err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("epoll: %w", err)
	}
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_NONBLOCK|unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("pipe: %w", err)
	}
	s := &server{lfd: lfd, epfd: epfd, stopR: p[0], stopW: p[1], conns: map[int]*conn{}, groups: map[string]map[int]*conn{}, buf: make([]byte, readBuf)}
	for _, fd := range []int{lfd, p[0]} {
		if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			return nil, fmt.Errorf("epoll add: %w", err)
		}
	}
	return s, nil
}

// addr returns the address the server listens on.
func (s *server) addr() (netip.AddrPort, error) {
	sa, err := unix.Getsockname(s.lfd)
	if err != nil {
		return netip.AddrPort{}, fmt.Errorf("getsockname: %w", err)
	}
	in4, ok := sa.(*unix.SockaddrInet4)
	if !ok {
		return netip.AddrPort{}, errors.New("getsockname: not IPv4")
	}
	return netip.AddrPortFrom(netip.AddrFrom4(in4.Addr), uint16(in4.Port)), nil
}

// stop wakes the loop, which then closes everything and returns.
func (s *server) stop() { _, _ = unix.Write(s.stopW, []byte{0}) }

func (s *server) serve() error {
	defer s.closeAll()
	events := make([]unix.EpollEvent, maxEvents)
	for {
		n, err := unix.EpollWait(s.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			switch {
			case fd == s.stopR:
				return nil
			case fd == s.lfd:
				s.accept()
			default:
				c := s.conns[fd]
				if c == nil {
					continue
				}
				if ev.Events&unix.EPOLLOUT != 0 {
					s.flush(c)
				}
				if ev.Events&(unix.EPOLLIN|unix.EPOLLHUP|unix.EPOLLERR) != 0 && s.conns[fd] != nil {
					s.read(c)
				}
			}
		}
	}
}

func (s *server) accept() {
	for {
		fd, _, err := unix.Accept4(s.lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
		if err != nil {
			return // EAGAIN: backlog empty; other errors: try on the next event
		}
		_ = unix.SetsockoptInt(fd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
		if err := unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(fd)}); err != nil {
			_ = unix.Close(fd)
			continue
		}
		s.conns[fd] = &conn{fd: fd}
	}
}

func (s *server) drop(c *conn) {
	delete(s.conns, c.fd)
	if c.group != "" {
		delete(s.groups[c.group], c.fd)
		if len(s.groups[c.group]) == 0 {
			delete(s.groups, c.group)
		}
	}
	_ = unix.Close(c.fd) // closing removes it from the epoll set
}

func (s *server) closeAll() {
	for _, c := range s.conns {
		s.drop(c)
	}
	_ = unix.Close(s.lfd)
	_ = unix.Close(s.epfd)
}

// read drains the socket and handles what it got.
func (s *server) read(c *conn) {
	for {
		n, err := unix.Read(c.fd, s.buf)
		if n > 0 {
			c.in = append(c.in, s.buf[:n]...)
		}
		if errors.Is(err, unix.EAGAIN) {
			break
		}
		if err != nil || n == 0 {
			s.drop(c)
			return
		}
		if n < len(s.buf) {
			break
		}
	}
	if !c.upgraded {
		if !s.handshake(c) {
			return
		}
	}
	s.frames(c)
}

// handshake answers the HTTP upgrade request in c.in, if complete.
func (s *server) handshake(c *conn) bool {
	end := bytes.Index(c.in, []byte("\r\n\r\n"))
	if end < 0 {
		if len(c.in) > 8<<10 {
			s.drop(c)
		}
		return false
	}
	var key []byte
	reqLine, _, _ := bytes.Cut(c.in[:end], []byte("\r\n"))
	c.group = groupOf(reqLine)
	for line := range bytes.SplitSeq(c.in[:end], []byte("\r\n")) {
		name, value, ok := bytes.Cut(line, []byte(":"))
		if ok && bytes.EqualFold(bytes.TrimSpace(name), []byte("Sec-WebSocket-Key")) {
			key = bytes.TrimSpace(value)
		}
	}
	if key == nil {
		_, _ = unix.Write(c.fd, []byte("HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n"))
		s.drop(c)
		return false
	}
	h := sha1.New()
	h.Write(key)
	h.Write([]byte(wsGUID))
	resp := "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
		base64.StdEncoding.EncodeToString(h.Sum(nil)) + "\r\n\r\n"
	c.in = c.in[end+4:]
	c.upgraded = true
	if c.group != "" {
		m := s.groups[c.group]
		if m == nil {
			m = map[int]*conn{}
			s.groups[c.group] = m
		}
		m[c.fd] = c
	}
	s.write(c, []byte(resp))
	return s.conns[c.fd] != nil
}

// frames parses the complete client frames in c.in.
func (s *server) frames(c *conn) {
	for {
		p := c.in
		if len(p) < 2 {
			break
		}
		op := p[0] & 0x0f
		n, hl := int(p[1]&0x7f), 2
		switch n {
		case 126:
			if len(p) < 4 {
				return
			}
			n, hl = int(binary.BigEndian.Uint16(p[2:])), 4
		case 127:
			if len(p) < 10 {
				return
			}
			n64 := binary.BigEndian.Uint64(p[2:])
			if n64 > maxPayload {
				s.drop(c)
				return
			}
			n, hl = int(n64), 10
		}
		if p[1]&0x80 == 0 || n > maxPayload { // clients must mask
			s.drop(c)
			return
		}
		if len(p) < hl+4+n {
			break
		}
		mask := p[hl : hl+4]
		payload := p[hl+4 : hl+4+n]
		for i := range payload {
			payload[i] ^= mask[i&3]
		}
		c.in = p[hl+4+n:]
		switch op {
		case 0x1, 0x2:
			s.broadcast(op, payload, c.group)
		case 0x8:
			s.drop(c)
			return
		}
		if s.conns[c.fd] == nil {
			return
		}
	}
	if len(c.in) == 0 {
		c.in = c.in[:0:0] // let an idle connection hold no buffer
	}
}

// groupOf returns the value of the group query parameter in the request
// line "GET /path?group=N HTTP/1.1", or "".
func groupOf(reqLine []byte) string {
	f := bytes.Fields(reqLine)
	if len(f) < 2 {
		return ""
	}
	u, err := url.ParseRequestURI(string(f[1]))
	if err != nil {
		return ""
	}
	return u.Query().Get("group")
}

// broadcast encodes the frame once and writes it to every upgraded socket
// (group ""), or to every member of group.
func (s *server) broadcast(op byte, payload []byte, group string) {
	f := append(s.frame[:0], 0x80|op)
	switch n := len(payload); {
	case n <= 125:
		f = append(f, byte(n))
	case n <= 0xffff:
		f = append(f, 126, byte(n>>8), byte(n))
	default:
		f = append(f, 127)
		f = binary.BigEndian.AppendUint64(f, uint64(n))
	}
	f = append(f, payload...)
	s.frame = f
	if group != "" {
		for _, c := range s.groups[group] {
			s.write(c, f)
		}
		return
	}
	for _, c := range s.conns {
		if c.upgraded {
			s.write(c, f)
		}
	}
}

// write writes b with write(2); what the kernel does not take waits in c.out
// for EPOLLOUT.
func (s *server) write(c *conn, b []byte) {
	if len(c.out) > 0 {
		c.out = append(c.out, b...)
		return
	}
	n, err := unix.Write(c.fd, b)
	if err != nil && !errors.Is(err, unix.EAGAIN) {
		s.drop(c)
		return
	}
	n = max(n, 0)
	if n == len(b) {
		return
	}
	c.out = append(c.out, b[n:]...)
	_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLOUT, Fd: int32(c.fd)})
}

func (s *server) flush(c *conn) {
	for len(c.out) > 0 {
		n, err := unix.Write(c.fd, c.out)
		if errors.Is(err, unix.EAGAIN) {
			return
		}
		if err != nil {
			s.drop(c)
			return
		}
		c.out = c.out[n:]
	}
	c.out = nil
	_ = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_MOD, c.fd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(c.fd)})
}
