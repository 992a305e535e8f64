#!/usr/bin/env bash
# Interleaved A/B of BenchmarkEventsThroughLink (businessworker/link_bench_test.go):
# a base revision against the work tree, on the same machine in the same run,
# with the medians of each side. The benchmark file is copied into the base
# revision, so it measures older link protocols with the same clients.
#
#   scripts/ab-link.sh [BASE] [ROUNDS] [EVENTS] [BENCH_REV]
#
# BASE defaults to 6a75814 (cumulative acks, 64 dispatch shards, events
# dropped past MaxUnacked), ROUNDS to 5, EVENTS (per run) to 200000.
# The base gets the benchmark file of BENCH_REV (default 47dcc49: the same
# benchmark written for the handler signatures before the Go-native API;
# only OnMessage's signature differs from the work tree's).
set -euo pipefail
base=${1:-6a75814}
rounds=${2:-5}
events=${3:-200000}
benchrev=${4:-47dcc49}
top=$(git rev-parse --show-toplevel)
tmp=$(mktemp -d)
trap 'git -C "$top" worktree remove --force "$tmp/base" >/dev/null 2>&1 || true; rm -rf "$tmp"' EXIT
git -C "$top" worktree add -q --detach "$tmp/base" "$base"
git -C "$top" show "$benchrev:businessworker/link_bench_test.go" > "$tmp/base/businessworker/link_bench_test.go"
(cd "$tmp/base" && go test -c -o "$tmp/old.test" ./businessworker/)
(cd "$top" && go test -c -o "$tmp/new.test" ./businessworker/)
for _ in $(seq "$rounds"); do
  for v in old new; do
    (cd "$top/businessworker" && "$tmp/$v.test" -test.run '^$' -test.bench '^BenchmarkEventsThroughLink$' \
      -test.benchtime "${events}x" -test.benchmem) | grep '^Benchmark' | sed "s/^/$v /"
  done
done | tee "$tmp/out"
# median SIDE UNIT: the median of the value before UNIT on SIDE's lines.
median() {
  grep "^$1 " "$tmp/out" | awk -v u="$2" '{ for (i = 1; i < NF; i++) if ($(i+1) == u) print $i }' | sort -g |
    awk '{ v[NR] = $1 } END { if (NR == 0) print 0; else if (NR % 2) print v[(NR+1)/2]; else print (v[NR/2] + v[NR/2+1]) / 2 }'
}
old=$(median old events/s); new=$(median new events/s)
echo "median events/s handled: old $old, new $new (new/old $(awk -v a="$new" -v b="$old" 'BEGIN { printf "%.2f", a / b }'))"
echo "median share lost:       old $(median old lost/op), new $(median new lost/op)"
