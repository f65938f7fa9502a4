#!/usr/bin/env bash
# BIN's edge ships the recorded spool (/var/tmp/s25/rec) with ws-10k's config; keeps the lake in OUT.
set -u
BIN=$1 OUT=$2
cd /work/main
W=$(mktemp -d); cp bench/cases/ws-10k/edge.toml $W/; mkdir -p $W/data; cp -a /var/tmp/s25/rec/data-edge $W/data/edge
port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)".*/\1/p' bench/cases/ws-10k/edge.toml)
segs=$(find $W/data/edge/spool -name '[0-9]*.seg' | wc -l)
( cd $W && exec $BIN/sentientiq-edge --config edge.toml > edge.log 2>&1 ) &
E=$!
for _ in $(seq 1 1200); do
  n=$(curl -s http://127.0.0.1:$port/metrics | awk '$1 ~ /^siq_lake_segments_shipped_total/ {print $NF}')
  [ "${n:-0}" -ge "$segs" ] 2>/dev/null && break; sleep 0.5
done
echo "shipped ${n:-0} of $segs"
kill -TERM $E; wait $E
lake=$(find $W/data -maxdepth 2 -type d -name lake | head -1)
rm -rf $OUT; mv $lake $OUT; rm -rf $W
