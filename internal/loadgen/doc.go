// Package loadgen is the engine of the gwbench load tool: it opens many
// WebSocket client connections to a fan-out server, makes some of them send
// timestamped messages (at a fixed rate or in closed loop), and measures on
// every receiver the delivery latency, loss and duplicates of the group-chat
// workload (every message goes to every connection, sender included).
//
// The pieces, from the wire up:
//
//   - payload.go: the fixed 32-byte ASCII message body (sender, sequence,
//     send time) and its zero-allocation codec.
//   - frame.go: a minimal client-side WebSocket frame writer (masked) and a
//     frame reader that reuses one buffer per connection.
//   - histogram.go: log-linear latency buckets; a Recorder per connection
//     (lock-free, one writer) merged into a Histogram at the end.
//   - conn.go, centrifuge.go: one client connection speaking either the plain
//     workload protocol or the minimal subset of centrifuge's JSON client
//     protocol (connect, subscribe, publish, push publications, ping/pong).
//   - worker.go: the connections of one process and their senders.
//   - bench.go, child.go, monitor.go: the orchestration of a run over one or
//     more processes (child processes exchange JSON lines over
//     stdin/stdout), window timing, progress and the final Report.
//   - procstat.go: CPU time and RSS of the servers under test from /proc.
//
// Time is measured on a clock shared by every process of a run: nanoseconds
// of CLOCK_MONOTONIC since an epoch chosen by the parent process.
package loadgen
