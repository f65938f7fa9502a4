#!/usr/bin/env bash
# rss-trace.sh CASE BIN LABEL: one bench-case run of the edge, its VmRSS sampled every 0.5 s.
set -u
case=$1 bin=$2 label=$3
cd /work/main
BENCH_BIN=$bin BENCH_LABEL=session25/$label scripts/bench-case.sh "$case" > /var/tmp/s25/$label.log 2>&1 &
run=$!
sleep 1
pid=$(pgrep -n -f "$bin/sentientiq-edge")
t0=$(date +%s.%N)
while kill -0 $pid 2>/dev/null; do
  r=$(awk '/VmRSS/ {print $2}' /proc/$pid/status 2>/dev/null) || break
  echo "$(awk -v a=$t0 -v b=$(date +%s.%N) 'BEGIN{printf "%.1f", b-a}') $r"
  sleep 0.5
done > /var/tmp/s25/$label.rss
wait $run
