#!/usr/bin/env bash
# usage: rss-ab.sh LABEL A_BIN_DIR B_BIN_DIR ROUNDS [CASE]
# Runs CASE (default ws-10k) with A's and B's release binaries alternately (A B A B ...), each
# with the edge's VmRSS and VmHWM sampled every 2 s into bench/runs/<date>-<host>/LABEL/
# rss-{A,B}-N.txt (columns: seconds since start, VmRSS kB, VmHWM kB). Start at load < 1.0.
set -eu
LABEL=$1; A=$2; B=$3; ROUNDS=$4; CASE=${5:-ws-10k}
cd "$(dirname "$0")/../../../.."
OUT="bench/runs/$(date -u +%F)-$(hostname)/$LABEL"
mkdir -p "$OUT"
sample() {
  local f=$1 pid="" t=0
  for _ in $(seq 600); do pid=$(pgrep -f "sentientiq-edge --config edge.toml" | head -1); [ -n "$pid" ] && break; sleep 0.2; done
  : > "$f"
  while [ -n "$pid" ] && [ -r "/proc/$pid/status" ]; do
    awk -v t="$t" '/VmRSS/ {r=$2} /VmHWM/ {h=$2} END {if (r) print t, r, h}' "/proc/$pid/status" >> "$f" 2>/dev/null || true
    sleep 2; t=$((t + 2))
  done
}
for i in $(seq "$ROUNDS"); do
  for side in A B; do
    bin=$A; [ "$side" = B ] && bin=$B
    sample "$OUT/rss-$side-$i.txt" &
    BENCH_BIN=$bin BENCH_LABEL="$LABEL/$CASE-$side-$i" scripts/bench-case.sh "$CASE" | tail -4
    wait
  done
done
