#!/usr/bin/env bash
# ready.sh LABEL BIN: an edge started on a copy of /var/tmp/s25/rec's recorded spool (two shards,
# 250 MB, 1.2 M frames of 10 000 sessions): seconds until /readyz answers 200, and its peak RSS
# (VmHWM) then; then it is stopped before the shipper ships much.
set -u
label=$1 bin=$2
cd /work/main
W=$(mktemp -d); cp bench/cases/ws-10k/edge.toml "$W/"; mkdir -p "$W/data"; cp -a /var/tmp/s25/rec/data-edge "$W/data/edge"
sync; scripts/bench-settle.sh
port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$W/edge.toml")
t0=$(date +%s.%N)
( cd "$W" && exec "$bin/sentientiq-edge" --config edge.toml 2> edge.log ) &
E=$!
until curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$port/readyz" 2>/dev/null | grep -q 200; do sleep 0.05; done
t1=$(date +%s.%N)
hwm=$(awk '/VmHWM/ {print $2}' /proc/$E/status)
rss=$(awk '/VmRSS/ {print $2}' /proc/$E/status)
kill -TERM $E; wait $E
echo "$label ready_s $(awk -v a=$t0 -v b=$t1 'BEGIN{printf "%.2f", b-a}') peak_kb $hwm rss_at_ready_kb $rss $(grep -o 'spool recovered.*' $W/edge.log | head -1) $(grep -c 'sessions rebuilt' $W/edge.log) rebuilt-lines"
rm -rf "$W"
