#!/usr/bin/env bash
# Samples an edge's descriptors every 0.2 s while a bench case runs: total, sockets, and the rest.
set -u
CASE=$1 BIN=$2 OUT=$3
cd /work/main
BENCH_DAY=2026-12-05 BENCH_BIN=$BIN BENCH_LABEL=session31/fd/$CASE scripts/bench-case.sh $CASE > $OUT.case.log 2>&1 &
bc=$!
pid=""
for _ in $(seq 1 100); do pid=$(pgrep -f "sentientiq-edge --config edge.toml" | head -1); [ -n "$pid" ] && break; sleep 0.1; done
: > $OUT
while kill -0 $pid 2>/dev/null; do
  l=$(ls -l /proc/$pid/fd 2>/dev/null | awk 'NR>1 {print $NF}')
  tot=$(echo "$l" | grep -c .)
  sock=$(echo "$l" | grep -c '^socket:')
  echo "$(date +%s.%N | cut -c1-14) $tot $sock $((tot - sock))" >> $OUT
  sleep 0.2
done
wait $bc
awk '{ if ($4 > o) o = $4; if ($2 > t) t = $2 } END { print "peak total", t, "peak non-socket", o }' $OUT
