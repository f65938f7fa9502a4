#!/usr/bin/env bash
set -euo pipefail
# (The first pair of traces ran with the label trace-16000-$v, the second, below, trace2-16000-$v.)
cd /work/main
for v in default idle; do
  sleep 20
  w=
  if [ "$v" = idle ]; then /var/tmp/s34/idle-watch.sh >> /var/tmp/s34/idle-watch.log 2>&1 & w=$!; fi
  BENCH_DAY=2026-12-06 BENCH_BIN=/var/tmp/binL BENCH_SESSIONS=16000 BENCH_SERVER_CPUS=0 BENCH_LOADGEN_CPUS=1 \
    BENCH_LABEL=session34/idle-ab/trace2-16000-$v scripts/bench-trace.sh capacity-1core 40 4 > /var/tmp/s34/trace2-$v.log 2>&1
  [ -n "$w" ] && wait "$w"
  echo "$(date +%T) trace $v done"
done
