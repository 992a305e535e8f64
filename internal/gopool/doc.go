// Package gopool is a small bounded goroutine pool for short tasks handed
// off by a non-blocking caller, such as the netpoll wait goroutine.
//
// Workers start on demand up to the pool size and live until Close. Tasks
// beyond the workers wait in a bounded queue. When the queue is full,
// Schedule does not block: it runs the task on an extra goroutine (counted in
// Stats.Overflow), so the caller is never stalled, at the cost of more
// goroutines under a burst.
package gopool
