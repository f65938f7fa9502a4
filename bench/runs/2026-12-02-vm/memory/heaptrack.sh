#!/usr/bin/env bash
# usage: heaptrack.sh BIN_DIR OUT_DIR
# The edge (bench/cases/ws-10k's config) under heaptrack with 4 000 WebSocket sessions of 75 s
# (5 s ramp), so at least one spool segment per shard is shipped while every session is
# connected; then the peak consumers (heaptrack_print --print-peaks), summarised by the first
# frame in this repository (heaptrack-*.txt here).
set -eu
BIN=$1; OUT=$2
mkdir -p "$OUT"; cp /work/main/bench/cases/ws-10k/edge.toml "$OUT/"; cd "$OUT"
(heaptrack -o "$OUT/ht" "$BIN/sentientiq-edge" --config edge.toml > ht.out 2> edge.log &)
# Wait for the listener (heaptrack slows the edge's start: a fixed 5 s was not always enough,
# and sessions started before it were refused).
for _ in $(seq 600); do { exec 3<>/dev/tcp/127.0.0.1/7460; } 2>/dev/null && { exec 3>&-; break; }; sleep 0.1; done
sleep 1
"$BIN/sentientiq-loadgen" --edge ws://127.0.0.1:7460/v1/ws --sessions 4000 --duration 75s \
  --ramp 5s --seed 1 --report r.json | tail -3
pkill -TERM -f "sentientiq-edge --config edge.toml"; sleep 8
heaptrack_print -f ht.zst --print-peaks 1 --print-allocators 0 --print-temporary 0 \
  --print-leaks 0 --peak-limit 25 > peaks.txt
