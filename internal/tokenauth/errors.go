package tokenauth

import "errors"

// Errors returned by New, Sign and Verifier.Verify; Verify wraps them with
// detail, so compare with errors.Is.
var (
	// ErrInvalidConfig: a secret shorter than MinSecretLen, or a negative
	// duration.
	ErrInvalidConfig = errors.New("tokenauth: invalid config")
	// ErrMalformed: not three base64url parts, bad JSON, no "exp", or a
	// token longer than MaxTokenLen.
	ErrMalformed = errors.New("tokenauth: malformed token")
	// ErrAlgorithm: the header names an algorithm other than HS256.
	ErrAlgorithm = errors.New("tokenauth: unsupported algorithm")
	// ErrSignature: the MAC does not match (wrong secret or altered token).
	ErrSignature = errors.New("tokenauth: bad signature")
	// ErrExpired: "exp" has passed (beyond the leeway).
	ErrExpired = errors.New("tokenauth: token expired")
	// ErrNotYetValid: "nbf" is still ahead (beyond the leeway).
	ErrNotYetValid = errors.New("tokenauth: token not yet valid")
)
