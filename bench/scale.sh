#!/usr/bin/env bash
# scale.sh — gatewayworker spread over several processes of one box, side by
# side with as many processes of the floor server, under the same clients and
# rates. Called by `make bench-scale`. See bench/README.md and
# docs/benchmarks.md ("Scale").
#
#   bench/scale.sh [--conns N] [--gateways G] [--workers W] [--duration 30s]
#                  [--scenarios "idle broadcast groups"] [--servers "gatewayworker floor"]
#                  [--groups N] [--group-interval 10] [--out DIR]
#
# gatewayworker: one register, G gateway processes, W workers (`gwbench
# worker`: the chat example without tick, plus groups); the clients spread
# over the G gateways. floor: G processes of bench/peers/floor, N/G clients
# each; a floor process forwards to its own clients only, so its broadcast has
# one sender per process (same deliveries per second, sent at the same
# instants) and its groups stay inside one process.
#
# Scenarios (a fresh set of servers for each):
#   idle       N connections held: RSS per connection summed over every
#              server process (register, gateways, workers / the floors)
#   broadcast  1 message/s to all N for --duration (floor: 1 msg/s per process)
#   groups     --groups groups (default N/95) spread over all gateways, each
#              gets a message every --group-interval seconds
#
# Output: the gwbench reports in --out (a temp dir by default), a table, and
# as the LAST line one JSON object (the contract of `make bench-scale`):
# conns, loss, kb_per_conn, cpu_us_per_delivery, floor_cpu_us_per_delivery,
# p99_ms, floor_p99_ms and more (see bench/cmd/scaletable).
# Needs curl (the gateways' /metrics tell when every worker is linked).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

conns=95000
gateways=5
workers=2
duration=30s
scenarios="idle broadcast groups"
servers="gatewayworker floor"
groups=""
group_interval=10
out=""
port=${BENCH_PORT:-17300}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --conns) conns=$2; shift ;;
    --gateways) gateways=$2; shift ;;
    --workers) workers=$2; shift ;;
    --duration) duration=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --servers) servers=$2; shift ;;
    --groups) groups=$2; shift ;;
    --group-interval) group_interval=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,29p' "$0"; exit 0 ;;
    *) echo "scale.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

if (( gateways < 1 || gateways > 20 )); then
  echo "scale.sh: --gateways $gateways: want 1..20" >&2; exit 2
fi
per_proc=$(( (conns + gateways - 1) / gateways ))
if (( per_proc > 19000 )); then
  echo "scale.sh: $per_proc connections per process: a process may hold 20,000 open files (use more --gateways)" >&2
  exit 2
fi
# Groups of ~95, a multiple of the process count (a floor group stays in one process).
if [[ -z "$groups" ]]; then
  groups=$(( (conns / 95 + gateways / 2) / gateways * gateways ))
  (( groups >= gateways )) || groups=$gateways
fi
if (( groups % gateways != 0 )); then
  echo "scale.sh: --groups $groups is not a multiple of --gateways $gateways" >&2; exit 2
fi
group_rate=$(awk "BEGIN{print 1/$group_interval}")

out=${out:-$(mktemp -d -t gwbench-scale.XXXXXX)}
bin="$out/bin"
mkdir -p "$bin"

echo "== building into $bin" >&2
(cd "$root" && go build -o "$bin/gwbench" ./cmd/gwbench && go build -o "$bin/gatewayworker" ./cmd/gatewayworker)
(cd "$here" && go build -o "$bin/floor" ./peers/floor && go build -o "$bin/scaletable" ./cmd/scaletable)

echo "== ulimit -n $(ulimit -n); $(sysctl -n net.ipv4.ip_local_port_range 2>/dev/null | tr '\t' ' ' | sed 's/^/ports /'); somaxconn $(sysctl -n net.core.somaxconn 2>/dev/null)" >&2

pids=()
names=()
start() { # start NAME CMD...: a server process in the background
  local name=$1; shift
  "$@" >"$out/log/$name.log" 2>&1 &
  pids+=("$!")
  names+=("$name")
}
stop_all() {
  local p
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do
    for _ in $(seq 50); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  pids=()
  names=()
}
trap stop_all EXIT INT TERM
mkdir -p "$out/log"

wait_port() { # wait_port HOST:PORT
  local host=${1%:*} p=${1##*:}
  for _ in $(seq 200); do
    if (exec 3<>"/dev/tcp/$host/$p") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "scale.sh: nothing listens on $1" >&2
  return 1
}

# wait_linked: every gateway's /metrics shows $workers worker links (60 s).
wait_linked() {
  local i n
  for _ in $(seq 600); do
    n=0
    for i in $(seq 0 $((gateways - 1))); do
      if curl -sf "http://127.0.0.1:$((port + 60 + i))/metrics" 2>/dev/null \
        | grep -q "^gatewayworker_gateway_links{kind=\"worker\"} $workers\$"; then
        n=$((n + 1))
      fi
    done
    (( n == gateways )) && return 0
    sleep 0.1
  done
  echo "scale.sh: the workers did not link every gateway, see $out/log" >&2
  return 1
}

urls=""
start_gatewayworker() {
  local i
  start register "$bin/gatewayworker" register --listen "127.0.0.1:$port" --gossip "" --name reg --log-level warn
  wait_port "127.0.0.1:$port"
  urls=""
  for i in $(seq 0 $((gateways - 1))); do
    start "gateway$i" "$bin/gatewayworker" gateway --listen "127.0.0.1:$((port + 20 + i))" \
      --lan "127.0.0.1:$((port + 40 + i))" --register "127.0.0.1:$port" --name "gw$i" \
      --admin "127.0.0.1:$((port + 60 + i))" --log-level warn
    urls+="${urls:+,}ws://127.0.0.1:$((port + 20 + i))/"
  done
  for i in $(seq 0 $((gateways - 1))); do wait_port "127.0.0.1:$((port + 20 + i))"; done
  for i in $(seq 0 $((workers - 1))); do
    start "worker$i" "$bin/gwbench" worker --register "127.0.0.1:$port" --name "w$i" \
      --admin "127.0.0.1:$((port + 100 + i))"
  done
  wait_linked
}
# save_metrics SCENARIO: every gateway's and worker's /metrics, for a look
# at drops, slow-consumer closes and queue sizes after the run.
save_metrics() {
  local i
  for i in $(seq 0 $((gateways - 1))); do
    curl -sf "http://127.0.0.1:$((port + 60 + i))/metrics" >"$out/log/$1__gateway$i.metrics" 2>/dev/null || true
  done
  for i in $(seq 0 $((workers - 1))); do
    curl -sf "http://127.0.0.1:$((port + 100 + i))/metrics" >"$out/log/$1__worker$i.metrics" 2>/dev/null || true
  done
  if cat "$out"/log/"$1"__gateway*.metrics 2>/dev/null | grep -E '^gatewayworker_gateway_(events_dropped_total|slow_consumer_closes_total)' | grep -qv ' 0$'; then
    echo "== $1: a gateway dropped events or closed slow clients, see $out/log/$1__gateway*.metrics" >&2
  fi
}
start_floor() {
  local i
  urls=""
  for i in $(seq 0 $((gateways - 1))); do
    start "floor$i" "$bin/floor" --listen "127.0.0.1:$((port + 80 + i))"
    urls+="${urls:+,}ws://127.0.0.1:$((port + 80 + i))/"
  done
  for i in $(seq 0 $((gateways - 1))); do wait_port "127.0.0.1:$((port + 80 + i))"; done
}

scenario_args() { # scenario_args SCENARIO SERVER
  # A floor process forwards to its own clients only: one sender per
  # process, sending at the same instants (--aligned) so that the five
  # fan-outs overlap as one SendToAll over five gateways does.
  local indep="" senders=1 align=""
  if [[ $2 == floor ]]; then indep="--independent"; senders=$gateways; align="--aligned"; fi
  case "$1" in
    idle)      echo "--idle --warmup 2s --duration 5s" ;;
    broadcast) echo "--senders $senders --rate 1 --warmup 3s --duration $duration $indep $align" ;;
    groups)    echo "--groups $groups --senders $groups --rate $group_rate --warmup 3s --duration $duration $indep" ;;
    *) echo "scale.sh: unknown scenario $1" >&2; return 1 ;;
  esac
}

{
  echo "{\"conns\":$conns,\"gateways\":$gateways,\"workers\":$workers,\"groups\":$groups,\"group_interval_s\":$group_interval,"
  echo "\"duration\":\"$duration\",\"nproc\":$(nproc),\"uptime_before\":\"$(uptime | sed 's/.*load average: //')\"}"
} >"$out/meta.json"

echo "== $conns connections over $gateways processes, $workers workers, $groups groups; results in $out" >&2
for sc in $scenarios; do
  for s in $servers; do
    case "$s" in
      gatewayworker) start_gatewayworker ;;
      floor) start_floor ;;
      *) echo "scale.sh: unknown server $s" >&2; exit 2 ;;
    esac
    args=$(scenario_args "$sc" "$s")
    echo "== $s $sc: gwbench run --conns $conns $args ($(uptime | sed 's/.*load average: /load /'))" >&2
    # shellcheck disable=SC2086 # word splitting of $args is intended
    if ! "$bin/gwbench" run --quiet --url "$urls" --conns "$conns" --src 127.0.0.1-127.0.0.20 \
      --pids "$(IFS=,; echo "${pids[*]}")" --json "$out/${sc}__${s}.json" $args >"$out/${sc}__${s}.txt" 2>&1; then
      echo "== $s $sc failed:" >&2
      tail -5 "$out/${sc}__${s}.txt" >&2
    fi
    sed 's/^/   /' "$out/${sc}__${s}.txt" >&2
    if [[ $s == gatewayworker ]]; then save_metrics "$sc"; fi
    stop_all
  done
done

echo "\"uptime_after\":\"$(uptime | sed 's/.*load average: //')\"" >"$out/uptime_after"
"$bin/scaletable" "$out" | tee "$out/table.txt"
tail -1 "$out/table.txt" >"$out/last_line.json"
