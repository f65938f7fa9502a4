#!/usr/bin/env bash
# Alternated A/B at N sessions on one core: the lake shipper at nice 10 (the edge's default)
# against SCHED_IDLE set from outside (idle-watch.sh), R rounds, order swapped each round.
set -euo pipefail
cd /work/main
N=${N:-16000}; R=${R:-3}; BIN=${BIN:-/var/tmp/binL}
for r in $(seq 1 "$R"); do
  if [ $((r % 2)) = 1 ]; then order="default idle"; else order="idle default"; fi
  for v in $order; do
    sleep 20
    w=
    if [ "$v" = idle ]; then /var/tmp/s34/idle-watch.sh >> /var/tmp/s34/idle-watch.log 2>&1 & w=$!; fi
    BENCH_DAY=2026-12-06 BENCH_BIN=$BIN BENCH_SESSIONS=$N BENCH_SERVER_CPUS=0 BENCH_LOADGEN_CPUS=1 \
      BENCH_LABEL=session34/idle-ab/$N-$v-$r scripts/bench-case.sh capacity-1core > /var/tmp/s34/ab-$N-$v-$r.log 2>&1
    [ -n "$w" ] && wait "$w"
    echo "$(date +%T) $N-$v-$r done"
  done
done
