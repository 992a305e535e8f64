// Package tokenauth signs and verifies short-lived bearer tokens for the
// gateway's handshake check: HMAC-SHA256 tokens in the JSON Web Token
// compact form (RFC 7519 with "alg":"HS256"), so any JWT library in any
// language can mint them for the gateway to accept.
//
// A token is base64url(header) "." base64url(claims) "." base64url(mac),
// where mac is HMAC-SHA256 over the first two parts with the shared secret.
// Verify accepts only the HS256 algorithm (never "none" or another one
// named by the token), checks the MAC in constant time before reading the
// claims, and requires an expiry ("exp", Unix seconds); "nbf" is honoured
// when present; "sub" is returned for the caller (typically a user id).
// Other claims are ignored.
package tokenauth
