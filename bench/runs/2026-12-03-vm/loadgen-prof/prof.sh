#!/usr/bin/env bash
# A CPU profile of the loadgen (not the edge) over a whole bench run: the case runs as usual
# (scripts/bench-case.sh, its record under LABEL), and `perf record -F 499 -g` follows the
# loadgen from its start to its exit into OUT/perf.data. The ramp and the steady state are then
# read apart with `perf report --time` (see README.md beside this script).
#
#   prof.sh OUT CASE      (env as for scripts/bench-case.sh: BENCH_BIN, BENCH_SESSIONS, ...)
set -u
cd "$(dirname "$0")/../../../.."
OUT=$(realpath -m "${1:?usage: prof.sh OUT CASE}"); CASE=${2:?case}
mkdir -p "$OUT"
scripts/bench-case.sh "$CASE" > "$OUT/bench.log" 2>&1 &
B=$!
for _ in $(seq 1 600); do
  L=$(pgrep -x sentientiq-load | head -1) # the kernel keeps 15 characters of a name
  [ -n "$L" ] && break
  sleep 0.05
done
[ -n "${L:-}" ] || { echo "no loadgen started" >&2; wait $B; exit 1; }
perf record -F 499 -g -p "$L" -o "$OUT/perf.data" > "$OUT/perf-record.log" 2>&1
wait $B
