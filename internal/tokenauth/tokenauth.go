package tokenauth

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Limits and defaults.
const (
	// MinSecretLen is the shortest secret accepted (bytes). HS256 wants at
	// least 32 random bytes; 16 is the floor below which New refuses.
	MinSecretLen = 16
	// DefaultLeeway is the clock skew tolerated on "exp" and "nbf".
	DefaultLeeway = 30 * time.Second
	// DefaultMaxTokenLen bounds the token Verify looks at (bytes).
	DefaultMaxTokenLen = 4096
)

// header is the only header Sign writes: {"alg":"HS256","typ":"JWT"}.
var header = base64.RawURLEncoding.EncodeToString([]byte(`{"alg":"HS256","typ":"JWT"}`))

// Claims are the registered claims this package reads and writes.
type Claims struct {
	// Subject ("sub") is who the token is for, e.g. a user id.
	Subject string `json:"sub,omitempty"`
	// ExpiresAt ("exp", Unix seconds) is required.
	ExpiresAt int64 `json:"exp"`
	// NotBefore ("nbf", Unix seconds) is optional (0: none).
	NotBefore int64 `json:"nbf,omitempty"`
	// IssuedAt ("iat", Unix seconds) is informational.
	IssuedAt int64 `json:"iat,omitempty"`
}

// Sign returns the HS256 token of c. c.ExpiresAt must be set; the secret
// must have at least MinSecretLen bytes.
func Sign(secret []byte, c Claims) (string, error) {
	if len(secret) < MinSecretLen {
		return "", fmt.Errorf("%w: secret shorter than %d bytes", ErrInvalidConfig, MinSecretLen)
	}
	if c.ExpiresAt <= 0 {
		return "", fmt.Errorf("%w: no expiry", ErrMalformed)
	}
	payload, err := json.Marshal(c)
	if err != nil {
		return "", fmt.Errorf("tokenauth: encode claims: %w", err)
	}
	signed := header + "." + base64.RawURLEncoding.EncodeToString(payload)
	return signed + "." + base64.RawURLEncoding.EncodeToString(mac(secret, signed)), nil
}

func mac(secret []byte, signed string) []byte {
	m := hmac.New(sha256.New, secret)
	m.Write([]byte(signed))
	return m.Sum(nil)
}

// Config configures a Verifier.
type Config struct {
	// Secret is the shared HMAC key, at least MinSecretLen bytes. Required.
	Secret []byte
	// Leeway is the clock skew tolerated on "exp" and "nbf"
	// (DefaultLeeway).
	Leeway time.Duration
	// MaxTokenLen bounds the token length (DefaultMaxTokenLen).
	MaxTokenLen int
}

// Verifier checks tokens against one secret. It is safe for concurrent use.
type Verifier struct {
	secret []byte
	leeway time.Duration
	maxLen int
}

// New validates cfg and returns a Verifier.
func New(cfg Config) (*Verifier, error) {
	if len(cfg.Secret) < MinSecretLen {
		return nil, fmt.Errorf("%w: secret shorter than %d bytes", ErrInvalidConfig, MinSecretLen)
	}
	if cfg.Leeway < 0 || cfg.MaxTokenLen < 0 {
		return nil, fmt.Errorf("%w: negative Leeway or MaxTokenLen", ErrInvalidConfig)
	}
	if cfg.Leeway == 0 {
		cfg.Leeway = DefaultLeeway
	}
	if cfg.MaxTokenLen == 0 {
		cfg.MaxTokenLen = DefaultMaxTokenLen
	}
	return &Verifier{secret: bytes.Clone(cfg.Secret), leeway: cfg.Leeway, maxLen: cfg.MaxTokenLen}, nil
}

// Verify checks token at time now and returns its claims. The signature is
// checked before the claims are decoded.
func (v *Verifier) Verify(token string, now time.Time) (Claims, error) {
	if len(token) > v.maxLen {
		return Claims{}, fmt.Errorf("%w: longer than %d bytes", ErrMalformed, v.maxLen)
	}
	h, rest, ok1 := strings.Cut(token, ".")
	p, s, ok2 := strings.Cut(rest, ".")
	if !ok1 || !ok2 || strings.Contains(s, ".") {
		return Claims{}, fmt.Errorf("%w: want three dot-separated parts", ErrMalformed)
	}
	if err := checkHeader(h); err != nil {
		return Claims{}, err
	}
	sig, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: signature: %w", ErrMalformed, err)
	}
	if !hmac.Equal(sig, mac(v.secret, token[:len(h)+1+len(p)])) {
		return Claims{}, ErrSignature
	}
	raw, err := base64.RawURLEncoding.DecodeString(p)
	if err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	var c Claims
	if err := json.Unmarshal(raw, &c); err != nil {
		return Claims{}, fmt.Errorf("%w: claims: %w", ErrMalformed, err)
	}
	if c.ExpiresAt <= 0 {
		return Claims{}, fmt.Errorf("%w: no exp claim", ErrMalformed)
	}
	leeway := int64(v.leeway / time.Second)
	unix := now.Unix()
	if unix > c.ExpiresAt+leeway {
		return Claims{}, fmt.Errorf("%w at %s", ErrExpired, time.Unix(c.ExpiresAt, 0).UTC().Format(time.RFC3339))
	}
	if c.NotBefore > 0 && unix < c.NotBefore-leeway {
		return Claims{}, fmt.Errorf("%w before %s", ErrNotYetValid, time.Unix(c.NotBefore, 0).UTC().Format(time.RFC3339))
	}
	return c, nil
}

// checkHeader accepts a JOSE header naming HS256 (and, optionally, type
// JWT) and nothing that changes how the token must be processed.
func checkHeader(h string) error {
	raw, err := base64.RawURLEncoding.DecodeString(h)
	if err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	var hd struct {
		Alg  string          `json:"alg"`
		Typ  string          `json:"typ"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(raw, &hd); err != nil {
		return fmt.Errorf("%w: header: %w", ErrMalformed, err)
	}
	if hd.Alg != "HS256" {
		return fmt.Errorf("%w %q", ErrAlgorithm, hd.Alg)
	}
	if hd.Crit != nil {
		return fmt.Errorf("%w: critical header extensions", ErrAlgorithm)
	}
	if hd.Typ != "" && !strings.EqualFold(hd.Typ, "JWT") {
		return fmt.Errorf("%w: type %q", ErrMalformed, hd.Typ)
	}
	return nil
}
