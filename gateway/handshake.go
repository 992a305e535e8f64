package gateway

import (
	"net/url"
	"strings"
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
	// RemoteAddr is the client's address (host:port).
	RemoteAddr string
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
