//go:build !linux

package netpoll

import (
	"log/slog"
	"net"
)

// Poller is not available on this platform; see New.
type Poller struct{}

// Desc is a registration; see Poller.Add.
type Desc struct{}

// New returns ErrUnsupported: netpoll needs Linux epoll.
func New(logger *slog.Logger) (*Poller, error) { return nil, ErrUnsupported }

// Add returns ErrUnsupported.
func (p *Poller) Add(conn net.Conn, onReady func()) (*Desc, error) { return nil, ErrUnsupported }

// AddFunc returns ErrUnsupported.
func (p *Poller) AddFunc(conn net.Conn, onReady func(d *Desc)) (*Desc, error) {
	return nil, ErrUnsupported
}

// AddFD returns ErrUnsupported.
func (p *Poller) AddFD(fd int, onReady func(d *Desc)) (*Desc, error) { return nil, ErrUnsupported }

// Arm returns ErrUnsupported.
func (p *Poller) Arm(d *Desc, read, write bool) error { return ErrUnsupported }

// Events reports nothing.
func (d *Desc) Events() (readable, writable bool) { return false, false }

// ArmHangup is unsupported on this platform.
func (p *Poller) ArmHangup(d *Desc, write bool) error { return ErrUnsupported }

// HungUp reports false on this platform.
func (d *Desc) HungUp() bool { return false }

// Resume returns ErrUnsupported.
func (p *Poller) Resume(d *Desc) error { return ErrUnsupported }

// Remove returns ErrUnsupported.
func (p *Poller) Remove(d *Desc) error { return ErrUnsupported }

// Close does nothing.
func (p *Poller) Close() error { return nil }
