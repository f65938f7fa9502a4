#!/usr/bin/env bash
# The io_uring floor waking per completion against gathering completions for up to
# BATCH µs per wait (`--batch-us`), alternated, ROUNDS rounds per case, each run started once
# the machine is settled.  Usage: batch-ab.sh BIN_DIR BATCH ROUNDS CASE...
set -euo pipefail
bin=${1:?binaries} batch=${2:?batch µs} rounds=${3:?rounds}
shift 3
cd "$(dirname "$0")/../../../.."
label=session17/batch-ab
dir="bench/runs/$(date -u +%F)-$(hostname)/$label"
mkdir -p "$dir"
for c in "$@"; do
  for i in $(seq 1 "$rounds"); do
    for v in 0 "$batch"; do
      scripts/bench-settle.sh
      name="$c-uring-b$v-$i"
      args=""; [ "$v" != 0 ] && args="--batch-us $v"
      BENCH_BIN=$bin BENCH_SERVER=floor-uring BENCH_SERVER_ARGS="$args" \
        BENCH_LABEL="$label/$name" scripts/bench-case.sh "$c" > "$dir/$name.log" 2>&1
      scripts/bench-row.py "$dir/$name"
    done
  done
done
