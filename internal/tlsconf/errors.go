package tlsconf

import "errors"

var (
	// ErrIncomplete is returned by New when some but not all of CertFile,
	// KeyFile and CAFile are set.
	ErrIncomplete = errors.New("tlsconf: --tls-cert, --tls-key and --tls-ca go together")
	// ErrNoCACert is returned by New when CAFile holds no PEM certificate.
	ErrNoCACert = errors.New("tlsconf: no certificate in the CA file")
	// ErrInvalidConfig is returned by New for a MinVersion below TLS 1.2.
	ErrInvalidConfig = errors.New("tlsconf: invalid config")
)
