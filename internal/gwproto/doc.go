// Package gwproto implements the wire formats of GatewayWorker 4.x that the
// compatibility listeners speak (written from the protocol's published
// description, no PHP code):
//
//   - the binary GatewayProtocol between GatewayWorker's gateways and its
//     BusinessWorker and GatewayClient: a 28-byte big-endian header
//     (pack format "NCNnNnNCnN": pack_len, cmd, local_ip, local_port,
//     client_ip, client_port, connection_id, flag, gateway_port, ext_len),
//     ext_len bytes of ext_data, then the body (packet.go);
//   - the replies of query commands: a 4-byte big-endian length and a PHP
//     serialize()d value (packet.go, php.go);
//   - PHP's serialize() format for the values that cross the wire: null,
//     bool, int, float, string and array (php.go);
//   - GatewayWorker's client ids: 20 hex characters of
//     pack('NnN', local_ip, local_port, connection_id) (clientid.go);
//   - the Register's text protocol: one JSON object per line (register.go).
//
// Decoders take hostile input: every length is bounded, nesting is limited
// and errors wrap ErrMalformed; nothing panics.
package gwproto
