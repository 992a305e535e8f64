// Package discovery is the client side of the Register service
// (proto/gatewayworker/v1/register.proto).
//
// A gateway runs an [Announcer] to hold its lease on one register of the
// cluster; workers and push clients run a [Watcher] to follow the set of live
// gateways. Both pick a register at random, fail over to the next one when it
// stops answering, and wait with [Backoff] (exponential, full jitter) between
// rounds, so a cluster with every register down is retried without spinning.
// While no register answers, a Watcher keeps the last set; when it reaches a
// register that came back empty, the gateways it knew stay for a grace period
// (a lease TTL) so that they have time to re-announce.
//
// [Dial] builds the gRPC client connection every role uses for internal
// links: cluster secret, client keepalive and 16 MiB message limits.
package discovery
