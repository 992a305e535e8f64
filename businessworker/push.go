package businessworker

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"

	"github.com/gatewayworker/gatewayworker/internal/linker"
)

// PushClient sends commands from any Go program (GatewayWorker's
// GatewayClient): it links to every live gateway like a Worker but receives
// no events.
//
// Start it with Run in a goroutine you own. API calls made before the first
// set of gateways is known wait for it, bounded by their ctx; calls made
// after Run returned fail with ErrClosed.
type PushClient struct {
	*API
	l       *linker.Linker
	running atomic.Bool
}

// NewPushClient validates cfg and returns a PushClient.
func NewPushClient(cfg PushConfig) (*PushClient, error) { return newPushClient(cfg, nil) }

func newPushClient(cfg PushConfig, src linker.Source) (*PushClient, error) {
	if len(cfg.Registers) == 0 && src == nil {
		return nil, fmt.Errorf("%w: Registers is required", ErrInvalidConfig)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	l, err := linker.New(linker.Config{
		Registers:   cfg.Registers,
		Source:      src,
		Secret:      cfg.Secret,
		Name:        defaultName(cfg.Name),
		DialOptions: dialOptions(cfg.TLS),
		Logger:      cfg.Logger,
	})
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidConfig, err)
	}
	return &PushClient{API: &API{l: l}, l: l}, nil
}

// ID returns the client's linker id.
func (p *PushClient) ID() string { return p.l.ID() }

// Run keeps the links until ctx is done; then it sends what is still queued
// (bounded by about a second per gateway), unlinks and returns nil. Call Flush
// before cancelling to be sure every command was applied. It returns
// ErrRunning if called twice.
func (p *PushClient) Run(ctx context.Context) error {
	if !p.running.CompareAndSwap(false, true) {
		return ErrRunning
	}
	return p.l.Run(ctx)
}
