//go:build linux

package multihost

// The client driver is the test binary re-executed on the clients' host
// (the os/exec helper-process pattern): the test process lives in the root
// namespace and cannot reach the network. The test writes one op per line
// on the driver's stdin and reads one event per line from its stdout, both
// JSON.

// driverEnv, set to driverMode, makes the test binary run the driver.
const (
	driverEnv  = "GW_MULTIHOST_HELPER"
	driverMode = "clients"
)

// Driver ops.
const (
	opDial    = "dial"     // ID, URL, TimeoutMS: open a WebSocket client
	opSend    = "send"     // ID, Text: send a text message (no reply)
	opClose   = "close"    // ID: close the client
	opWaitTCP = "wait_tcp" // Addr, TimeoutMS: poll until a TCP connect succeeds
)

// Driver events.
const (
	evReply  = "reply"  // the answer to an op with Req != 0; Err if it failed
	evMsg    = "msg"    // ID received Text at At
	evClosed = "closed" // ID's connection ended: Code, Err
	evError  = "error"  // an op without Req failed (a send)
)

// op is one instruction to the driver.
type op struct {
	Op        string `json:"op"`
	Req       int64  `json:"req,omitempty"`
	ID        string `json:"id,omitempty"`
	URL       string `json:"url,omitempty"`
	Addr      string `json:"addr,omitempty"`
	Text      string `json:"text,omitempty"`
	TimeoutMS int64  `json:"timeout_ms,omitempty"`
}

// event is one report from the driver. At is the driver's wall clock in
// Unix nanoseconds; the test shares that clock (namespaces do not
// virtualise time).
type event struct {
	Ev   string `json:"ev"`
	Req  int64  `json:"req,omitempty"`
	ID   string `json:"id,omitempty"`
	Text string `json:"text,omitempty"`
	Err  string `json:"err,omitempty"`
	Code int    `json:"code,omitempty"`
	At   int64  `json:"at"`
}
