package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// DefaultCertCheckInterval is how often CertReloader.Run looks for changed
// certificate files.
const DefaultCertCheckInterval = 10 * time.Second

// CertReloaderConfig configures NewCertReloader.
type CertReloaderConfig struct {
	// CertFile and KeyFile are the PEM certificate (chain) and private key
	// of the public listener. Both are required.
	CertFile, KeyFile string
	// CheckInterval is how often Run compares the files with the loaded
	// pair (DefaultCertCheckInterval).
	CheckInterval time.Duration
	// Logger receives reloads and reload failures (nil: discard).
	Logger *slog.Logger
}

// CertReloader serves the certificate of a wss listener from files and
// swaps it without a restart: Reload (on SIGHUP, say) or Run (on a file
// change) loads the pair again, and every TLS handshake after that gets
// the new certificate through tls.Config.GetCertificate. Connections
// already established keep theirs; none is dropped. A pair that fails to
// load is logged and the previous one stays in use. Its methods are safe
// for concurrent use.
type CertReloader struct {
	cfg  CertReloaderConfig
	log  *slog.Logger
	cert atomic.Pointer[tls.Certificate]

	mu  sync.Mutex // serialises loads
	sum [sha256.Size]byte
}

// NewCertReloader loads the pair once and returns a reloader serving it.
func NewCertReloader(cfg CertReloaderConfig) (*CertReloader, error) {
	if cfg.CertFile == "" || cfg.KeyFile == "" {
		return nil, fmt.Errorf("%w: TLS needs both a certificate and a key file", ErrInvalidConfig)
	}
	if cfg.CheckInterval < 0 {
		return nil, fmt.Errorf("%w: CheckInterval is negative", ErrInvalidConfig)
	}
	if cfg.CheckInterval == 0 {
		cfg.CheckInterval = DefaultCertCheckInterval
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	r := &CertReloader{cfg: cfg, log: cfg.Logger}
	if _, err := r.load(); err != nil {
		return nil, err
	}
	return r, nil
}

// TLSConfig returns a server tls.Config for the public listener: TLS 1.2 or
// later, the certificate from GetCertificate, HTTP/1.1 only (a WebSocket
// upgrade is an HTTP/1.1 request). Wrap the listener with tls.NewListener.
func (r *CertReloader) TLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: r.GetCertificate,
		NextProtos:     []string{"http/1.1"},
	}
}

// GetCertificate returns the current certificate; it is a
// tls.Config.GetCertificate.
func (r *CertReloader) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return r.cert.Load(), nil
}

// Reload loads the pair again. On failure the current certificate stays in
// use and the error is returned (and logged).
func (r *CertReloader) Reload() error {
	changed, err := r.load()
	if err != nil {
		r.log.Error("TLS certificate not reloaded, keeping the current one", "cert", r.cfg.CertFile, "err", err)
		return err
	}
	if changed {
		r.log.Info("TLS certificate reloaded", "cert", r.cfg.CertFile, "expires", r.notAfter())
	}
	return nil
}

// Run reloads the pair whenever the files' contents change, checking every
// CheckInterval, until ctx is done. It returns nil then.
func (r *CertReloader) Run(ctx context.Context) error {
	t := time.NewTicker(r.cfg.CheckInterval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			_ = r.Reload()
		}
	}
}

// load reads both files and installs the pair if it differs from the
// loaded one. It reports whether it installed a new pair.
func (r *CertReloader) load() (bool, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	certPEM, err := os.ReadFile(r.cfg.CertFile)
	if err != nil {
		return false, fmt.Errorf("gateway: TLS certificate: %w", err)
	}
	keyPEM, err := os.ReadFile(r.cfg.KeyFile)
	if err != nil {
		return false, fmt.Errorf("gateway: TLS key: %w", err)
	}
	h := sha256.New()
	h.Write(certPEM)
	h.Write([]byte{0})
	h.Write(keyPEM)
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if r.cert.Load() != nil && bytes.Equal(sum[:], r.sum[:]) {
		return false, nil
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// A half-written pair (one file replaced, not yet the other) lands
		// here too; the next check or signal picks up the complete one.
		return false, fmt.Errorf("gateway: TLS key pair: %w", err)
	}
	r.cert.Store(&cert)
	r.sum = sum
	return true, nil
}

func (r *CertReloader) notAfter() time.Time {
	if c := r.cert.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}
