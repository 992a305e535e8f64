package businessworker

import (
	"net/url"
	"strings"
)

// Message is one WebSocket message. Sends do not copy Data: do not modify it
// after passing it to a send (the send is asynchronous).
type Message struct {
	Data   []byte
	Binary bool // binary frame instead of text
}

// Text returns a text message.
func Text(s string) Message { return Message{Data: []byte(s)} }

// Binary returns a binary message; b is not copied.
func Binary(b []byte) Message { return Message{Data: b, Binary: true} }

// String returns the payload as a string.
func (m Message) String() string { return string(m.Data) }

// Header is one HTTP header of the client's upgrade request.
type Header struct{ Name, Value string }

// Handshake is the client's WebSocket upgrade request.
type Handshake struct {
	Path       string
	RawQuery   string
	Headers    []Header
	RemoteAddr string
	// Subprotocol is the subprotocol the gateway chose for the connection
	// (named in its Sec-WebSocket-Protocol response header), "" for none.
	// The client's offer is in the Sec-Websocket-Protocol header(s).
	Subprotocol string
}

// Query parses RawQuery.
func (h Handshake) Query() url.Values {
	v, _ := url.ParseQuery(h.RawQuery)
	return v
}

// Header returns the first value of the named header (case-insensitive), or
// "".
func (h Handshake) Header(name string) string {
	for _, hd := range h.Headers {
		if strings.EqualFold(hd.Name, name) {
			return hd.Value
		}
	}
	return ""
}
