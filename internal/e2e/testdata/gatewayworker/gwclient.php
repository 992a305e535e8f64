<?php
// gwclient.php: a GatewayClient written from GatewayWorker 4.x's protocol
// description (not GatewayWorker's code), for the end-to-end tests.
//
//   php gwclient.php REGISTER SECRET COMMAND [ARGS...]
//
// It asks the register for the gateways ({"event":"worker_connect",...} on
// the text protocol), then sends each request as GatewayClient does: a new
// TCP connection per request, CMD_GATEWAY_CLIENT_CONNECT first when a
// secret is set, then the packet pack('NCNnNnNCnN', ...) . ext . body.
// Queries read pack('N', len) . serialize(result) from every gateway.
// Results are printed as one JSON line.

const CMD_SEND_TO_ONE = 5;
const CMD_SEND_TO_ALL = 6;
const CMD_KICK = 7;
const CMD_UPDATE_SESSION = 9;
const CMD_IS_ONLINE = 11;
const CMD_BIND_UID = 12;
const CMD_SEND_TO_UID = 14;
const CMD_GET_CLIENT_ID_BY_UID = 15;
const CMD_JOIN_GROUP = 20;
const CMD_SEND_TO_GROUP = 22;
const CMD_GET_CLIENT_COUNT_BY_GROUP = 24;
const CMD_SELECT = 25;
const CMD_GATEWAY_CLIENT_CONNECT = 202;
const CMD_GET_SESSION_BY_CLIENT_ID = 203;

function packet($cmd, $connection_id = 0, $ext = '', $body = '', $flag = 0)
{
    if (is_scalar($body)) {
        $flag |= 1; // FLAG_BODY_IS_SCALAR
        $body = (string)$body;
    } else {
        $body = serialize($body);
    }
    return pack('NCNnNnNCnN', 28 + strlen($ext) + strlen($body), $cmd, 0, 0, 0, 0,
        $connection_id, $flag, 0, strlen($ext)) . $ext . $body;
}

function gateways($register, $secret)
{
    $c = stream_socket_client("tcp://$register", $errno, $errmsg, 3);
    if (!$c) {
        fail("register $register: $errmsg");
    }
    fwrite($c, json_encode(['event' => 'worker_connect', 'secret_key' => $secret]) . "\n");
    stream_set_timeout($c, 5);
    $line = fgets($c, 655350);
    fclose($c);
    $data = json_decode(trim((string)$line), true);
    if (!isset($data['event']) || $data['event'] !== 'broadcast_addresses') {
        fail('register answered ' . var_export($line, true));
    }
    return array_values($data['addresses']);
}

function request($address, $secret, $buffer, $want_reply)
{
    $c = stream_socket_client("tcp://$address", $errno, $errmsg, 3);
    if (!$c) {
        fail("gateway $address: $errmsg");
    }
    if ($secret !== '') {
        $buffer = packet(CMD_GATEWAY_CLIENT_CONNECT, 0, '', json_encode(['secret_key' => $secret])) . $buffer;
    }
    fwrite($c, $buffer);
    if (!$want_reply) {
        fclose($c);
        return null;
    }
    stream_set_timeout($c, 5);
    $head = read_n($c, 4);
    $len = unpack('N', $head)[1];
    $body = read_n($c, $len);
    fclose($c);
    return unserialize($body, ['allowed_classes' => false]);
}

function read_n($c, $n)
{
    $buf = '';
    while (strlen($buf) < $n) {
        $chunk = fread($c, $n - strlen($buf));
        if ($chunk === false || $chunk === '') {
            fail('gateway closed the connection');
        }
        $buf .= $chunk;
    }
    return $buf;
}

// client_id => [gateway address, connection id]
function address_of($client_id)
{
    if (strlen($client_id) !== 20 || !ctype_xdigit($client_id)) {
        fail("bad client id $client_id");
    }
    $a = unpack('Nip/nport/Nconn', hex2bin($client_id));
    return [long2ip($a['ip']) . ':' . $a['port'], $a['conn']];
}

function client_id($address, $connection_id)
{
    [$ip, $port] = explode(':', $address);
    return bin2hex(pack('NnN', ip2long($ip), $port, $connection_id));
}

function fail($msg)
{
    fwrite(STDERR, "gwclient: $msg\n");
    exit(1);
}

[$self, $register, $secret, $command] = array_pad($argv, 4, '');
$args = array_slice($argv, 4);
$all = gateways($register, $secret);
$out = null;
switch ($command) {
    case 'gateways':
        $out = $all;
        break;
    case 'send_to_all': // MESSAGE [EXCLUDE_CLIENT_ID...]
        $exclude = [];
        foreach (array_slice($args, 1) as $id) {
            [$addr, $conn] = address_of($id);
            $exclude[$addr][$conn] = $conn;
        }
        foreach ($all as $addr) {
            $ext = isset($exclude[$addr]) ? json_encode(['exclude' => $exclude[$addr]]) : '';
            request($addr, $secret, packet(CMD_SEND_TO_ALL, 0, $ext, $args[0]), false);
        }
        break;
    case 'send_to_group': // GROUP MESSAGE [EXCLUDE_CLIENT_ID...]
        $exclude = [];
        foreach (array_slice($args, 2) as $id) {
            [$addr, $conn] = address_of($id);
            $exclude[$addr][$conn] = $conn;
        }
        foreach ($all as $addr) {
            $ext = json_encode(['group' => [$args[0]], 'exclude' => $exclude[$addr] ?? null]);
            request($addr, $secret, packet(CMD_SEND_TO_GROUP, 0, $ext, $args[1]), false);
        }
        break;
    case 'send_to_uid': // UID MESSAGE
        foreach ($all as $addr) {
            request($addr, $secret, packet(CMD_SEND_TO_UID, 0, json_encode([$args[0]]), $args[1]), false);
        }
        break;
    case 'send_to_client': // CLIENT_ID MESSAGE
        [$addr, $conn] = address_of($args[0]);
        request($addr, $secret, packet(CMD_SEND_TO_ONE, $conn, '', $args[1]), false);
        break;
    case 'bind_uid': // CLIENT_ID UID
    case 'join_group': // CLIENT_ID GROUP
        [$addr, $conn] = address_of($args[0]);
        $cmd = $command === 'bind_uid' ? CMD_BIND_UID : CMD_JOIN_GROUP;
        request($addr, $secret, packet($cmd, $conn, $args[1]), false);
        break;
    case 'close_client': // CLIENT_ID [MESSAGE]
        [$addr, $conn] = address_of($args[0]);
        request($addr, $secret, packet(CMD_KICK, $conn, '', $args[1] ?? null), false);
        break;
    case 'update_session': // CLIENT_ID JSON_OBJECT
        [$addr, $conn] = address_of($args[0]);
        request($addr, $secret, packet(CMD_UPDATE_SESSION, $conn, serialize(json_decode($args[1], true))), false);
        break;
    case 'get_session': // CLIENT_ID
        [$addr, $conn] = address_of($args[0]);
        $out = request($addr, $secret, packet(CMD_GET_SESSION_BY_CLIENT_ID, $conn), true);
        $out = is_string($out) && $out !== '' ? unserialize($out) : $out;
        break;
    case 'is_online': // CLIENT_ID
        [$addr, $conn] = address_of($args[0]);
        $out = request($addr, $secret, packet(CMD_IS_ONLINE, $conn), true);
        break;
    case 'client_ids_by_uid': // UID
        $out = [];
        foreach ($all as $addr) {
            foreach ((array)request($addr, $secret, packet(CMD_GET_CLIENT_ID_BY_UID, 0, $args[0]), true) as $conn) {
                $out[] = client_id($addr, $conn);
            }
        }
        sort($out);
        break;
    case 'count': // [GROUP]
        $out = 0;
        foreach ($all as $addr) {
            $out += request($addr, $secret, packet(CMD_GET_CLIENT_COUNT_BY_GROUP, 0, $args[0] ?? ''), true);
        }
        break;
    case 'client_ids': // every client id, through CMD_SELECT
        $out = [];
        foreach ($all as $addr) {
            $rows = request($addr, $secret, packet(CMD_SELECT, 0, json_encode(['fields' => ['uid'], 'where' => []])), true);
            foreach ((array)$rows as $conn => $row) {
                $out[] = client_id($addr, $conn);
            }
        }
        sort($out);
        break;
    default:
        fail("unknown command $command");
}
echo json_encode($out), "\n";
