#!/usr/bin/env bash
# anon-trace.sh CASE BIN SERVER LABEL: one bench-case run, the server's RssAnon / RssFile / VmRSS every 0.5 s; prints the peaks.
set -u
case=$1 bin=$2 server=$3 label=$4
cd /work/main
exe=sentientiq-edge; [ "$server" = baseline ] && exe=sentientiq-baseline
srv=; [ "$server" = baseline ] && srv=baseline
BENCH_SERVER=$srv BENCH_BIN=$bin BENCH_LABEL=session30/$label scripts/bench-case.sh "$case" > /var/tmp/s30/$label.log 2>&1 &
run=$!
pid=
for _ in $(seq 1 200); do pid=$(pgrep -n -f "$bin/$exe") && break; sleep 0.05; done
t0=$(date +%s.%N)
while kill -0 $pid 2>/dev/null; do
  r=$(awk '/VmRSS|RssAnon|RssFile/ {printf "%s ", $2}' /proc/$pid/status 2>/dev/null) || break
  [ -n "$r" ] && echo "$(awk -v a=$t0 -v b=$(date +%s.%N) 'BEGIN{printf "%.1f", b-a}') $r"
  sleep 0.5
done > /var/tmp/s30/$label.rss
wait $run
awk 'NF>=4 {if ($2>r) r=$2; if ($3>a) a=$3; if ($4>f) f=$4} END {printf "peak VmRSS %d kB, RssAnon %d kB, RssFile %d kB\n", r, a, f}' /var/tmp/s30/$label.rss
