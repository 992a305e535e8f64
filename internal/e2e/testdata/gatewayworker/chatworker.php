<?php
// chatworker.php: the seed's group chat as a BusinessWorker written from
// GatewayWorker 4.x's protocol description (not GatewayWorker's code), for
// the end-to-end tests: every message a client sends goes, unchanged, to
// every client on every gateway.
//
//   php chatworker.php REGISTER SECRET WORKER_KEY
//
// It keeps a connection to the register ({"event":"worker_connect"}; the
// register pushes {"event":"broadcast_addresses"} lines), links to every
// gateway listed with CMD_WORKER_CONNECT, reads client events (packets
// pack('NCNnNnNCnN', ...) . ext . body) and answers with CMD_SEND_TO_ALL on
// every gateway. It prints "linked ADDRESS" and "message CLIENT_ID" lines,
// and exits when its standard input closes.

const CMD_ON_CONNECT = 1;
const CMD_ON_MESSAGE = 3;
const CMD_ON_CLOSE = 4;
const CMD_SEND_TO_ALL = 6;
const CMD_WORKER_CONNECT = 200;
const CMD_PING = 201;
const CMD_ON_WEBSOCKET_CONNECT = 205;

function packet($cmd, $connection_id = 0, $ext = '', $body = '')
{
    return pack('NCNnNnNCnN', 28 + strlen($ext) + strlen($body), $cmd, 0, 0, 0, 0,
        $connection_id, 1, 0, strlen($ext)) . $ext . $body;
}

function out($line)
{
    fwrite(STDOUT, $line . "\n");
    fflush(STDOUT);
}

[$self, $register, $secret, $worker_key] = array_pad($argv, 4, '');
$reg = stream_socket_client("tcp://$register", $errno, $errmsg, 3);
if (!$reg) {
    fwrite(STDERR, "register: $errmsg\n");
    exit(1);
}
fwrite($reg, json_encode(['event' => 'worker_connect', 'secret_key' => $secret]) . "\n");
$reg_buf = '';
$gateways = [];   // address => socket
$buffers = [];    // address => unread bytes
stream_set_blocking(STDIN, false);

while (true) {
    $read = array_values($gateways);
    $read[] = $reg;
    $read[] = STDIN;
    $w = $e = null;
    if (@stream_select($read, $w, $e, 1) === false) {
        break;
    }
    foreach ($read as $sock) {
        if ($sock === STDIN) {
            if (fread(STDIN, 8192) === '' && feof(STDIN)) {
                exit(0);
            }
            continue;
        }
        if ($sock === $reg) {
            $chunk = fread($reg, 65535);
            if ($chunk === '' || $chunk === false) {
                fwrite(STDERR, "register closed the connection\n");
                exit(1);
            }
            $reg_buf .= $chunk;
            while (($pos = strpos($reg_buf, "\n")) !== false) {
                $msg = json_decode(substr($reg_buf, 0, $pos), true);
                $reg_buf = substr($reg_buf, $pos + 1);
                foreach ($msg['addresses'] ?? [] as $addr) {
                    if (isset($gateways[$addr])) {
                        continue;
                    }
                    $g = stream_socket_client("tcp://$addr", $errno, $errmsg, 3);
                    if (!$g) {
                        continue;
                    }
                    fwrite($g, packet(CMD_WORKER_CONNECT, 0, '', json_encode(['worker_key' => $worker_key, 'secret_key' => $secret])));
                    $gateways[$addr] = $g;
                    $buffers[$addr] = '';
                    out("linked $addr");
                }
            }
            continue;
        }
        $addr = array_search($sock, $gateways, true);
        $chunk = fread($sock, 65535);
        if ($chunk === '' || $chunk === false) {
            unset($gateways[$addr], $buffers[$addr]);
            out("unlinked $addr");
            continue;
        }
        $buffers[$addr] .= $chunk;
        while (strlen($buffers[$addr]) >= 28) {
            $len = unpack('N', $buffers[$addr])[1];
            if (strlen($buffers[$addr]) < $len) {
                break;
            }
            $p = unpack('Npack_len/Ccmd/Nlocal_ip/nlocal_port/Nclient_ip/nclient_port/Nconnection_id/Cflag/ngateway_port/Next_len', $buffers[$addr]);
            $body = substr($buffers[$addr], 28 + $p['ext_len'], $len - 28 - $p['ext_len']);
            $buffers[$addr] = substr($buffers[$addr], $len);
            if ($p['cmd'] !== CMD_ON_MESSAGE) {
                continue; // connect, websocket connect, close, ping
            }
            $client_id = bin2hex(pack('NnN', $p['local_ip'], $p['local_port'], $p['connection_id']));
            foreach ($gateways as $g) {
                fwrite($g, packet(CMD_SEND_TO_ALL, 0, '', $body));
            }
            out("message $client_id");
        }
    }
}
