#!/usr/bin/env bash
# compare.sh — run the same gwbench scenarios against each fan-out server and
# print one table (medians over --repeat runs, ratios to the floor and to the
# gorilla hub). Called by `make bench-compare`. See bench/README.md.
#
#   bench/compare.sh [--quick | --full] [--repeat N] [--servers "floor gorillahub ..."]
#                    [--scenarios "idle rate peak latency"] [--out DIR]
#
# --quick (default) uses small sizes and a few seconds per run (under ~2 min
# for the three peers); --full uses the sizes of the issue (10k-19k idle
# connections, 2 msg/s to 10k connections, 1k connections with 16 closed-loop
# senders) and takes tens of minutes. Everything stays on 127.0.0.0/8.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

mode=quick
repeat=1
servers="floor gatewayworker gorillahub centrifuge"
scenarios="idle rate peak latency"
out=""
addr=${BENCH_ADDR:-127.0.0.1:17272}

while [[ $# -gt 0 ]]; do
  case "$1" in
    --quick) mode=quick ;;
    --full) mode=full ;;
    --repeat) repeat=$2; shift ;;
    --servers) servers=$2; shift ;;
    --scenarios) scenarios=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,14p' "$0"; exit 0 ;;
    *) echo "compare.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done

out=${out:-$(mktemp -d -t gwbench-compare.XXXXXX)}
bin="$out/bin"
mkdir -p "$bin"

echo "== building into $bin" >&2
(cd "$root" && go build -o "$bin/gwbench" ./cmd/gwbench)
# >>> GATEWAYWORKER SLOT (lead): build our server. A build failure (say, a
# package mid-edit) only drops it from the table.
(cd "$root" && go build -o "$bin/gatewayworker" ./cmd/gatewayworker) \
  || echo "== gatewayworker did not build: left out" >&2
# <<< GATEWAYWORKER SLOT
(cd "$here" && go build -o "$bin/floor" ./peers/floor \
  && go build -o "$bin/gorillahub" ./peers/gorillahub \
  && go build -o "$bin/centrifuge" ./peers/centrifuge \
  && go build -o "$bin/benchtable" ./cmd/benchtable)

# ---------------------------------------------------------------------------
# Scenarios: gwbench flags per mode (the URL, --proto and --pids are added).
# ---------------------------------------------------------------------------
src="127.0.0.1-127.0.0.20"
scenario_args() {
  case "$mode:$1" in
    quick:idle)    echo "--idle --conns 2000 --warmup 1s --duration 2s" ;;
    quick:rate)    echo "--conns 2000 --senders 1 --rate 20 --warmup 1s --duration 3s" ;;
    quick:peak)    echo "--conns 1000 --senders 16 --closed-loop --warmup 1s --duration 3s" ;;
    quick:latency) echo "--conns 100 --senders 1 --rate 10 --warmup 1s --duration 3s" ;;
    full:idle)     echo "--idle --conns 19000 --src $src --warmup 3s --duration 5s" ;;
    full:rate)     echo "--conns 10000 --src $src --senders 1 --rate 2 --warmup 3s --duration 30s" ;;
    full:peak)     echo "--conns 1000 --senders 16 --closed-loop --warmup 3s --duration 20s" ;;
    full:latency)  echo "--conns 1000 --senders 1 --rate 10 --warmup 3s --duration 20s" ;;
    *) echo "compare.sh: unknown scenario $1" >&2; return 1 ;;
  esac
}

# ---------------------------------------------------------------------------
# Servers: how to start each, its URL and client protocol. Each must be one
# process (its PID is sampled) listening on $addr.
# ---------------------------------------------------------------------------
server_cmd() {
  case "$1" in
    floor)      echo "$bin/floor --listen $addr" ;;
    gorillahub) echo "$bin/gorillahub --listen $addr" ;;
    centrifuge) echo "$bin/centrifuge --listen $addr" ;;
    # >>> GATEWAYWORKER SLOT (lead): our server. `demo` runs register, gateway
    # and the chat worker (every message to every client) in one process, so
    # --pids covers all three; its other listeners take free ports. The
    # worker links within the warmup; messages sent before do not count.
    gatewayworker)
      if [[ -x "$bin/gatewayworker" ]]; then
        echo "$bin/gatewayworker demo --tick 0 --listen $addr --lan 127.0.0.1:0 --register-listen 127.0.0.1:0 --http 127.0.0.1:0 --log-level warn"
      fi ;;
    # <<< GATEWAYWORKER SLOT ------------------------------------------------
  esac
}
server_url() {
  case "$1" in
    centrifuge) echo "ws://$addr/connection/websocket" ;;
    *) echo "ws://$addr/" ;;
  esac
}
server_proto() {
  case "$1" in
    centrifuge) echo centrifuge ;;
    *) echo ws ;;
  esac
}

# wait_port polls until $addr accepts TCP connections (10 s at most).
wait_port() {
  local host=${addr%:*} port=${addr##*:}
  for _ in $(seq 100); do
    if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]]; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    server_pid=""
  fi
}
trap stop_server EXIT INT TERM

echo "== mode $mode, repeat $repeat, results in $out" >&2
for s in $servers; do
  cmd=$(server_cmd "$s")
  if [[ -z "$cmd" ]]; then
    echo "== skipping $s (not built)" >&2
    continue
  fi
  for sc in $scenarios; do
    args=$(scenario_args "$sc")
    for r in $(seq "$repeat"); do
      # A fresh server per run, so idle RSS starts from an empty server.
      $cmd >"$out/$s.log" 2>&1 &
      server_pid=$!
      if ! wait_port; then
        echo "== $s did not start, see $out/$s.log" >&2
        stop_server
        continue
      fi
      echo "== $s $sc run $r: gwbench run $args" >&2
      # shellcheck disable=SC2086 # word splitting of $args is intended
      if ! "$bin/gwbench" run --quiet --url "$(server_url "$s")" --proto "$(server_proto "$s")" \
        --pids "$server_pid" --json "$out/${sc}__${s}__${r}.json" $args >"$out/${sc}__${s}__${r}.txt" 2>&1; then
        echo "== $s $sc run $r failed:" >&2
        tail -5 "$out/${sc}__${s}__${r}.txt" >&2
      fi
      stop_server
    done
  done
done

"$bin/benchtable" "$out"
