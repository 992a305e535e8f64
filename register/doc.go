// Package register is the discovery service of gatewayworker.
//
// Gateways hold a lease on a register over the Announce stream; workers and
// push clients follow the set of live gateways over the Watch stream (one
// snapshot, then every change). The client side lives in
// internal/discovery.
//
// # Leases
//
// An entry lives while its Announce stream lives (kept fresh by the
// gateway's keepalives) and for its TTL after the stream breaks without a
// leave, so a gateway can fail over to another register without watchers
// seeing it vanish. A leave removes it at once. A re-announce of the same node
// id, from any stream, refreshes it. Expiry is driven by a timer, never by
// reads.
//
// # Leader lease
//
// The Lease call grants the leader lease of cluster-wide timers. Each
// register grants it on its own, from memory (holder, expiry, fencing
// token), without gossip; a worker leads only while more than half of
// Config.ClusterSize registers grant it (internal/discovery.Lease). A
// register grants nothing during its first Config.MaxLeaderTTL, since it
// may have granted the lease before a restart. docs/concepts.md states the
// guarantee and its assumptions.
//
// # Stores
//
// The set of gateways sits behind the small [Store] interface. [MemoryStore]
// serves a single register; [ClusterStore] shares the set between registers
// with hashicorp/memberlist so that a gateway announced to any register is
// seen by the watchers of every register.
//
// # Slow watchers
//
// Each watcher has a bounded buffer of changes (Config.WatchBuffer). A watcher
// that falls behind is dropped with codes.ResourceExhausted and re-snapshots
// when it reconnects; it never slows down the other watchers or the leases.
package register
