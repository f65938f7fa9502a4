#!/usr/bin/env bash
# The O_DSYNC spool A/B: S = main before (cc83522's edge), D = the segment opened O_DSYNC.
# Three rounds, the order alternated per round, each run once the 1-minute load is below 1.0:
#   bench/runs/2026-12-03-vm/dsync-ab/ab.sh   (from the repository root)
set -u
for r in 1 2 3; do
  if [ $((r % 2)) = 1 ]; then order="S D"; else order="D S"; fi
  for v in $order; do
    for c in ws-1k ws-10k; do
      scripts/bench-settle.sh
      BENCH_BIN=/var/tmp/bin$v BENCH_LABEL=dsync-ab/$c-$v-$r scripts/bench-case.sh $c > /dev/null 2>&1
      echo "$(date -u +%T) $c $v $r done"
    done
  done
done
