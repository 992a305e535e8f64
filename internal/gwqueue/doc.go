// Package gwqueue is the per-connection write queue of the gateway: a FIFO
// of encoded WebSocket frames with a byte count (Queue), and the frames
// being written (Batch).
//
// Frames are shared, never copied: a broadcast encodes one frame and pushes
// the same bytes to every target's queue, so a frame must not be modified
// after it is pushed. A writer moves everything queued into its Batch at
// once (Batch.Fill) and writes it with one writev: without waiting
// (Batch.WriteNonblock, for a writer that serves many sockets) or blocking
// (Batch.WriteTo). Several queued frames go out in one write, each still its
// own WebSocket frame.
//
// Memory is the point: a Queue is 56 bytes and keeps its first frame inline,
// so an idle connection holds no buffer and a single queued frame costs no
// allocation; the iovec array and the frame list of a write live in the
// Batch, which belongs to the writer, not to the connection. In steady state
// nothing allocates.
//
// Queue and Batch are not safe for concurrent use. The owner of a Queue
// serialises its methods with its lock; a Batch belongs to one writer at a
// time and needs no lock once filled.
package gwqueue
