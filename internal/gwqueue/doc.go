// Package gwqueue is the per-connection write queue of the gateway: a FIFO
// of encoded WebSocket frames with a byte count, and the batch being
// written.
//
// Frames are shared, never copied: a broadcast encodes one frame and pushes
// the same bytes to every target's queue, so a frame must not be modified
// after it is pushed. The writer moves everything queued into the write
// batch at once (Take), writes it with one writev (WriteTo) and releases it
// (Done); in steady state nothing allocates.
//
// A Queue is not safe for concurrent use. The owner serialises Push, Take,
// Done and the accessors with its lock; WriteTo is called by the one writer
// between Take and Done, without the lock (it touches only the batch).
package gwqueue
