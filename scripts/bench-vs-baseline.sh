#!/usr/bin/env bash
# The edge and the baseline (`sentientiq-baseline`, the plain tokio design issue 20 judges the
# edge against) on the same case, one after the other, with the same loadgen command; the
# records go to <run dir>/LABEL/CASE-{edge,baseline}-N and a table to <run dir>/LABEL/table.md.
#
#   scripts/bench-vs-baseline.sh LABEL ROUNDS CASE...     # e.g. vs-baseline 2 ws-1k ws-5k ws-10k
#
# Rounds alternate the servers (edge, baseline, edge, baseline ...), each started once the
# machine's load is below 1.0. BENCH_BIN as in scripts/bench-case.sh. SERVERS="edge baseline
# floor floor-glommio floor-uring" adds the three transport floors (scripts/bench-case.sh) to each
# round.
set -euo pipefail
cd "$(dirname "$0")/.."
label=${1:?usage: scripts/bench-vs-baseline.sh LABEL ROUNDS CASE...}
rounds=${2:?rounds}
shift 2
# One day for the whole series (bench-case.sh's BENCH_DAY): a series crossing midnight stays in one folder.
export BENCH_DAY=${BENCH_DAY:-$(date -u +%F)}
dir="bench/runs/$BENCH_DAY-$(hostname)/$label"
mkdir -p "$dir"
records=()
for c in "$@"; do
  for i in $(seq 1 "$rounds"); do
    for server in ${SERVERS:-edge baseline}; do
      scripts/bench-settle.sh
      BENCH_SERVER=$server BENCH_LABEL="$label/$c-$server-$i" scripts/bench-case.sh "$c" \
        > "$dir/$c-$server-$i.log" 2>&1
      records+=("$dir/$c-$server-$i")
      scripts/bench-row.py "$dir/$c-$server-$i"
    done
  done
done
scripts/bench-row.py --header "${records[@]}" > "$dir/table.md"
echo "table: $dir/table.md"
