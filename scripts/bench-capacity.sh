#!/usr/bin/env bash
# Capacity at SLO on one core (issue 20): the edge with one shard (bench/cases/capacity-1core)
# pinned to CPU 0 with taskset, the loadgen pinned to CPU 1, and sessions raised step by step
# until the loadgen's ack p99 passes the SLO (25 ms) in two steps running. Every step is an
# ordinary bench record (scripts/bench-case.sh) under <run dir>/LABEL/<sessions>/, and the
# steps' table goes to <run dir>/LABEL/capacity.md.
#
#   scripts/bench-capacity.sh [START STEP MAX]      # default 2000 2000 20000 sessions
#
# Environment: BENCH_BIN (binaries' directory, else this tree's release build), BENCH_SERVER
# (edge or baseline), SLO_MS (25), CAPACITY_CASE (capacity-1core), CAPACITY_LABEL (the case's
# name, or NAME-baseline for the baseline), CAPACITY_RUNS (1): runs per step, recorded as
# <sessions>-<run>, a step being over the SLO when more than half of its runs are (one machine's
# runs of one size spread by up to 5 ms of ack p99 within half an hour, and a run can meet a
# stall of the machine's own: bench/runs/2026-12-06-vm/README.md, "Thirty-third session").
set -euo pipefail
cd "$(dirname "$0")/.."
start=${1:-2000}
step=${2:-2000}
max=${3:-20000}
slo=${SLO_MS:-25}
case=${CAPACITY_CASE:-capacity-1core}
server=${BENCH_SERVER:-edge}
label=${CAPACITY_LABEL:-$case$([ "$server" = edge ] || echo "-$server")}
runs=${CAPACITY_RUNS:-1}
[[ "$runs" =~ ^[1-9][0-9]*$ ]] || { echo "CAPACITY_RUNS must be a positive integer, not $runs" >&2; exit 1; }
# One day for the whole series (bench-case.sh's BENCH_DAY): a series crossing midnight stays in one folder.
export BENCH_DAY=${BENCH_DAY:-$(date -u +%F)}
dir="bench/runs/$BENCH_DAY-$(hostname)/$label"
mkdir -p "$dir"
table="$dir/capacity.md"
{
  echo "server: $server, pinned to CPU 0; loadgen pinned to CPU 1; SLO: ack p99 <= $slo ms at the loadgen"
  echo "loadgen: $(cat "bench/cases/$case/loadgen.args") (--sessions per row)"
  echo
  scripts/bench-row.py --header --slo "$slo"
} > "$table"
over=0
n=$start
while [ "$n" -le "$max" ]; do
  misses=0
  for r in $(seq 1 "$runs"); do
    rec=$n
    [ "$runs" -gt 1 ] && rec=$n-$r
    # The previous run's server has exited; let its dirty pages and the load settle.
    scripts/bench-settle.sh
    BENCH_SESSIONS=$n BENCH_SERVER_CPUS=0 BENCH_LOADGEN_CPUS=1 BENCH_LABEL="$label/$rec" \
      scripts/bench-case.sh "$case" > "$dir/$rec.log" 2>&1
    row=$(scripts/bench-row.py --slo "$slo" "$dir/$rec")
    echo "$row" | tee -a "$table"
    [[ "$row" == *"| no |" ]] && misses=$((misses + 1))
  done
  if [ $((2 * misses)) -gt "$runs" ]; then
    over=$((over + 1))
    [ "$over" -ge 2 ] && break
  else
    over=0
  fi
  n=$((n + step))
done
echo "table: $table"
