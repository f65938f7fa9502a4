#!/usr/bin/env bash
# replay-rss.sh LABEL BIN: one shipper replay of /var/tmp/s25/rec, the edge's VmRSS every 0.2 s.
set -u
label=$1 bin=$2
cd /work/main
scripts/bench-ship-replay.sh replay /var/tmp/s25/rec "$label" "$bin" > /var/tmp/s25/$label.log 2>&1 &
run=$!
pid=
for _ in $(seq 1 600); do pid=$(pgrep -n -f "$bin/sentientiq-edge") && break; sleep 0.05; done
t0=$(date +%s.%N)
while kill -0 $pid 2>/dev/null; do
  r=$(awk '/VmRSS|RssAnon|RssFile/ {printf "%s ", $2}' /proc/$pid/status 2>/dev/null) || break
  [ -n "$r" ] && echo "$(awk -v a=$t0 -v b=$(date +%s.%N) 'BEGIN{printf "%.1f", b-a}') $r"
  sleep 0.2
done > /var/tmp/s25/$label.rss
wait $run
grep -E "rows|cpu|ns_per_row|rss|wall" /var/tmp/s25/rec/$label.txt
