package gwproto

import (
	"encoding/json"
	"fmt"
)

// RegisterRequest is a line a Gateway, BusinessWorker or GatewayClient
// sends to GatewayWorker's Register.
type RegisterRequest struct {
	// Event is "gateway_connect", "worker_connect" or "ping".
	Event string `json:"event"`
	// Address is the gateway's internal address (gateway_connect).
	Address string `json:"address,omitempty"`
	// SecretKey must equal the register's secret.
	SecretKey string `json:"secret_key,omitempty"`
}

// MaxRegisterLine bounds a line of the register's text protocol.
const MaxRegisterLine = 64 << 10

// ParseRegisterRequest decodes one line (without its newline).
func ParseRegisterRequest(line []byte) (RegisterRequest, error) {
	var r RegisterRequest
	if err := json.Unmarshal(line, &r); err != nil {
		return r, fmt.Errorf("%w: register request: %v", ErrMalformed, err)
	}
	if r.Event == "" {
		return r, fmt.Errorf("%w: register request without event", ErrMalformed)
	}
	return r, nil
}

// AppendBroadcastAddresses appends the register's answer: the line
// {"event":"broadcast_addresses","addresses":[...]} and its newline.
func AppendBroadcastAddresses(dst []byte, addrs []string) []byte {
	if addrs == nil {
		addrs = []string{}
	}
	b, _ := json.Marshal(struct {
		Event     string   `json:"event"`
		Addresses []string `json:"addresses"`
	}{"broadcast_addresses", addrs})
	dst = append(dst, b...)
	return append(dst, '\n')
}
