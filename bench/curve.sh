#!/usr/bin/env bash
# curve.sh — cost curves: bench/scale.sh at several connection counts (at the
# largest gateway count) and several gateway counts (at one connection
# count), then a Markdown table and a PNG plot (bench/cmd/scaleplot).
# Called by `make bench-scale-curve`.
#
#   bench/curve.sh [--conns "1000 10000 50000 95000"] [--gateways "1 2 5"]
#                  [--at 10000] [--duration 20s] [--add DIR]... [--png FILE] [--out DIR]
#
# --add DIR takes the points of a scale.sh run already made (its output
# directory holds last_line.json), e.g. the full 95,000-client run, instead
# of running that size again.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
conns="1000 10000 50000 95000"
gateways="1 2 5"
at=10000
duration=20s
png=""
out=""
adds=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --conns) conns=$2; shift ;;
    --gateways) gateways=$2; shift ;;
    --at) at=$2; shift ;;
    --duration) duration=$2; shift ;;
    --add) adds+=("$2"); shift ;;
    --png) png=$2; shift ;;
    --out) out=$2; shift ;;
    -h|--help) sed -n '2,12p' "$0"; exit 0 ;;
    *) echo "curve.sh: unknown argument $1" >&2; exit 2 ;;
  esac
  shift
done
out=${out:-$(mktemp -d -t gwbench-curve.XXXXXX)}
mkdir -p "$out"
png=${png:-$out/scale-curves.png}
maxgw=0
for g in $gateways; do (( g > maxgw )) && maxgw=$g; done

: >"$out/points.jsonl"
have() { # have CONNS GATEWAYS: a point already in points.jsonl
  grep "\"conns\":$1[,}]" "$out/points.jsonl" | grep -q "\"gateways\":$2[,}]"
}
for d in "${adds[@]}"; do
  tail -1 "$d/last_line.json" >>"$out/points.jsonl"
done
runpoint() { # runpoint CONNS GATEWAYS
  if have "$1" "$2"; then return 0; fi
  echo "== curve point: $1 connections, $2 gateways" >&2
  bash "$here/scale.sh" --conns "$1" --gateways "$2" --duration "$duration" --out "$out/c$1_g$2" | tail -1 >>"$out/points.jsonl"
}
for c in $conns; do runpoint "$c" "$maxgw"; done
for g in $gateways; do runpoint "$at" "$g"; done
(cd "$here" && go run ./cmd/scaleplot --png "$png" "$out/points.jsonl")
echo "== plot: $png" >&2
