package gateway

import (
	"errors"
	"fmt"
	"github.com/gatewayworker/gatewayworker/internal/errtext"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gatewayworker/gatewayworker/internal/tokenauth"
)

// Handshake is what a client sent in its WebSocket upgrade request. It is
// passed to Config.OnHandshake and forwarded to the worker in the Connect
// event; the gateway does not keep it afterwards.
type Handshake struct {
	// Path and RawQuery of the request URI.
	Path     string
	RawQuery string
	// Headers in request order, names canonicalised.
	Headers []Header
	// RemoteAddr is the client's address (host:port): the real client's
	// when Config.ProxyProtocol or Config.TrustedProxies says so.
	RemoteAddr string
	// Protocols are the subprotocols the client offers, in its order of
	// preference (Sec-WebSocket-Protocol).
	Protocols []string
	// Subprotocol is the subprotocol chosen for the response, "" for none:
	// the first of Protocols that Config.Subprotocols lists. OnHandshake may
	// set it to another of Protocols (or ""); the worker sees the final
	// choice in its handshake data.
	Subprotocol string
}

// Header is one HTTP request header.
type Header struct {
	Name, Value string
}

// Header returns the value of the first header named name (case
// insensitive), or "".
func (h *Handshake) Header(name string) string {
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, name) {
			return hd.Value
		}
	}
	return ""
}

// Query parses RawQuery.
func (h *Handshake) Query() url.Values {
	v, _ := url.ParseQuery(h.RawQuery)
	return v
}

// HandshakeError refuses a client from Config.OnHandshake with an HTTP
// status (e.g. 401) and a reason sent as the response body.
type HandshakeError struct {
	Status int
	Reason string
}

func (e *HandshakeError) Error() string {
	return "gateway: handshake refused: " + e.Reason
}

// DefaultTokenParam is the query parameter HMACTokenCheck reads the token
// from by default.
const DefaultTokenParam = "token"

// TokenCheck configures HMACTokenCheck.
type TokenCheck struct {
	// Secret is the HMAC-SHA256 key shared with whoever mints the tokens,
	// at least 16 bytes (32 random bytes recommended). Required.
	Secret []byte
	// QueryParam is the query parameter carrying the token
	// (DefaultTokenParam). An "Authorization: Bearer <token>" header is
	// accepted too (non-browser clients; browsers cannot set headers on a
	// WebSocket).
	QueryParam string
	// Leeway is the clock skew tolerated on the expiry (30 s if zero).
	Leeway time.Duration
	// Now returns the current time (time.Now if nil); for tests.
	Now func() time.Time
}

// HMACTokenCheck returns a Config.OnHandshake hook that admits a client
// only with a valid token: a JWT in compact form signed with HS256
// (base64url(header).base64url(claims).base64url(HMAC-SHA256)), carrying
// an "exp" claim not yet passed. Any JWT library can mint one; so can
// SignToken. A client without a token, or with a bad, expired or
// not-yet-valid one, is refused with 401 before the upgrade. The token
// stays in the handshake data the worker receives; the worker may read
// its "sub" claim without checking the signature again, since the gateway
// did.
func HMACTokenCheck(cfg TokenCheck) (func(*Handshake) error, error) {
	v, err := tokenauth.New(tokenauth.Config{Secret: cfg.Secret, Leeway: cfg.Leeway})
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidConfig, errtext.Strip(err))
	}
	param := cfg.QueryParam
	if param == "" {
		param = DefaultTokenParam
	}
	now := cfg.Now
	if now == nil {
		now = time.Now
	}
	return func(h *Handshake) error {
		token := h.Query().Get(param)
		if token == "" {
			auth := h.Header("Authorization")
			if len(auth) > 7 && strings.EqualFold(auth[:7], "bearer ") {
				token = strings.TrimSpace(auth[7:])
			}
		}
		if token == "" {
			return &HandshakeError{Status: http.StatusUnauthorized, Reason: "missing token"}
		}
		if _, err := v.Verify(token, now()); err != nil {
			reason := "invalid token"
			switch {
			case errors.Is(err, tokenauth.ErrExpired):
				reason = "token expired"
			case errors.Is(err, tokenauth.ErrNotYetValid):
				reason = "token not yet valid"
			}
			return &HandshakeError{Status: http.StatusUnauthorized, Reason: reason}
		}
		return nil
	}, nil
}

// SignToken mints a token that HMACTokenCheck with the same secret accepts
// until expires; subject becomes its "sub" claim (e.g. the user id). A
// login service calls it and hands the token to the client, which puts it
// in the query string of its WebSocket URL (?token=...).
func SignToken(secret []byte, subject string, expires time.Time) (string, error) {
	tok, err := tokenauth.Sign(secret, tokenauth.Claims{
		Subject:   subject,
		ExpiresAt: expires.Unix(),
		IssuedAt:  time.Now().Unix(),
	})
	if err != nil {
		return "", fmt.Errorf("gateway: sign token: %w", err)
	}
	return tok, nil
}
