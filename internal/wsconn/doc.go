// Package wsconn is the server side of RFC 6455 WebSocket on top of
// github.com/gobwas/ws, built for a gateway that keeps no goroutine and no
// buffer per idle connection.
//
// It has three parts:
//
//   - Upgrade performs the opening handshake on a raw net.Conn: it reads the
//     request into one buffer bounded by UpgradeConfig.MaxHeaderBytes, checks
//     the origin and an optional hook, and writes either the 101 response or
//     an HTTP error. Nothing is kept buffered after it returns.
//   - Reader reads one frame at a time from the connection, validates it
//     against the RFC and the configured Limits, and reassembles fragmented
//     messages. Protocol violations are reported as *CloseError carrying the
//     close code to send back. Reader.Ready tells a poller-driven caller
//     whether the bytes it has buffered let ReadFrame finish without
//     waiting for the network.
//   - AppendMessage, AppendPing, AppendPong and AppendClose encode server
//     frames into a caller-supplied buffer, so a broadcast is encoded once and
//     the same bytes are written to every target.
//   - permessage-deflate (RFC 7692, deflate.go): with
//     UpgradeConfig.Compression, Upgrade accepts a client's offer without
//     context takeover in either direction; Reader.Deflate then
//     decompresses RSV1 messages with pooled decompressors, MaxMessageSize
//     applying to the decompressed size; a Compressor compresses a message
//     once into a frame any such connection accepts.
//
// The package starts no goroutines and sets no deadlines: the caller owns
// both.
package wsconn
