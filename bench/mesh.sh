#!/usr/bin/env bash
# mesh.sh — the mesh simulation of `make bench-mesh`: 3 registers (one gossip
# cluster), G gateway processes and 16 worker processes (`gwbench worker`)
# on this box, at G = 4, 16 and 64. See bench/cmd/meshbench for what is
# measured, docs/benchmarks.md ("Mesh") for the latest figures.
#
#   bench/mesh.sh [--sizes 4,16,64] [--workers 16] [--out DIR] [meshbench flags...]
#
# Run as root where `unshare -n` works, it runs in a network namespace of its
# own (loopback only): no port clash with anything else on the box, and the
# UDP datagram count is the registers' gossip alone. Otherwise it runs on the
# host's loopback and says so (the UDP count then includes other programs).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/.." && pwd)

out=""
args=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,13p' "$0"; exit 0 ;;
    *) args+=("$1") ;;
  esac
  shift
done
out=${out:-$(mktemp -d -t gwbench-mesh.XXXXXX)}
bin="$out/bin"
mkdir -p "$bin"
echo "== building into $bin" >&2
(cd "$root" && go build -o "$bin/gwbench" ./cmd/gwbench && go build -o "$bin/gatewayworker" ./cmd/gatewayworker)
(cd "$here" && go build -o "$bin/meshbench" ./cmd/meshbench)

echo "== load before: $(uptime | sed 's/.*load average: //'); results in $out" >&2
if [[ $(id -u) == 0 ]] && unshare -n true 2>/dev/null; then
  echo "== in a network namespace of its own" >&2
  # shellcheck disable=SC2016 # expanded by the inner shell
  unshare -n bash -c 'ip link set lo up && exec "$@"' _ \
    "$bin/meshbench" --bin "$bin" --out "$out" --netns "${args[@]}" | tee "$out/mesh.txt"
else
  echo "== on the host loopback (not root, or no unshare): UDP counts include other programs" >&2
  "$bin/meshbench" --bin "$bin" --out "$out" "${args[@]}" | tee "$out/mesh.txt"
fi
echo "== load after: $(uptime | sed 's/.*load average: //')" >&2
