// Package rendezvous implements rendezvous (highest random weight) hashing
// over 64-bit keys and nodes.
//
// Every node gets a score for a key; the node with the highest score wins.
// When a node leaves, only the keys it owned move (each to its runner-up),
// and every process that knows the same node set picks the same node for a
// key, with no shared state. Picking is O(nodes) and allocates nothing,
// which suits the few workers a gateway routes client events to.
package rendezvous
