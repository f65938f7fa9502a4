#!/usr/bin/env bash
# rss-trace.sh CASE BIN LABEL: one bench-case run of the edge, its VmRSS sampled every 0.5 s.
# RECORD (default session25) names the record's folder, TMP (default /var/tmp/s25) where the
# log and the trace go.
set -u
case=$1 bin=$2 label=$3
rec=${RECORD:-session25} tmp=${TMP:-/var/tmp/s25}
cd /work/main
BENCH_BIN=$bin BENCH_LABEL=$rec/$label scripts/bench-case.sh "$case" > $tmp/$label.log 2>&1 &
run=$!
sleep 1
pid=$(pgrep -n -f "$bin/sentientiq-edge")
t0=$(date +%s.%N)
while kill -0 $pid 2>/dev/null; do
  r=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null) || break
  echo "$(awk -v a=$t0 -v b=$(date +%s.%N) 'BEGIN{printf "%.1f", b-a}') $r"
  sleep 0.5
done > $tmp/$label.rss
wait $run
