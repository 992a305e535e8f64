// Package e2e holds the end-to-end tests of gatewayworker: real registers,
// gateways and workers on loopback, driven by real WebSocket clients
// (gorilla/websocket, an implementation independent of the gateway's), and
// the split-process test that runs the gatewayworker binary and the chat
// example as separate processes. It has no non-test code.
package e2e
