// Package tlsconf builds the mutual TLS of gatewayworker's internal gRPC
// links (register, the gateway's LAN side, workers and push clients) from
// three PEM files: the node's certificate, its key and the cluster CA.
//
// Every node presents its certificate and requires one signed by the cluster
// CA from its peer: a node without such a certificate is refused at the TLS
// handshake, before any call, so it never announces, watches or links. The
// refusal is logged by the server (see [TLS.ServerOptions]).
//
// A zero [Config] means TLS off: [New] then returns a nil *TLS, whose methods
// return no options, so callers need no special case for plaintext.
//
// Certificates are checked against the dialled host name or IP address, as
// usual; set Config.ServerName when every node carries a certificate for one
// shared name instead (e.g. "gatewayworker.internal").
package tlsconf
