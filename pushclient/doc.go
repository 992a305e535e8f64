// Package pushclient sends to the clients of a gatewayworker cluster from any
// Go program — a web handler, a cron job, an admin tool — without receiving
// their events (GatewayWorker's GatewayClient).
//
// A Client offers every call of businessworker.API: sends to clients, uids,
// groups and everyone; group and uid membership; sessions; queries and their
// batch forms. docs/api.md maps each GatewayWorker call to its Go name.
//
// A Client watches the registers for live gateways (a stream, no polling)
// and keeps one link to each, reconnecting when one breaks. It starts on its
// first call, not in New, so creating one is cheap; Close stops it. It is safe
// for concurrent use. Commands are asynchronous and ordered per gateway: call
// Flush after a command to know every gateway applied it.
package pushclient
