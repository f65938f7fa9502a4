#!/usr/bin/env bash
# usage: [SESSIONS=N] [LOADGEN_NICE=K] split.sh LABEL LOADGENS BIN_DIR
# The quic-10k case (10 000 QUIC connections, one session each, 100 s, 30 s ramp) with its
# sessions split over LOADGENS loadgen processes (seeds 1.., 10000/LOADGENS sessions each),
# beside watch.sh. LOADGENS=1 is the case as scripts/bench-case.sh runs it. SESSIONS changes
# the 10 000; LOADGEN_NICE runs the loadgens at that nice value (negative: ahead of the edge's
# shards when both want the CPU). Records under
# bench/runs/<date>-<host>/LABEL/: edge.log, metrics.txt, watch.txt, report-N.json,
# progress-N.txt, summary-N.txt.
set -eu
LABEL=$1; N=$2; BIN=$(cd "$3" && pwd)
cd "$(dirname "$0")/../../../.."
OUT="$(pwd)/bench/runs/$(date -u +%F)-$(hostname)/$LABEL"
mkdir -p "$OUT"
WATCH="$(pwd)/bench/runs/2026-12-02-vm/quic-10k-tail/watch.sh"
WORK=$(mktemp -d)
cp bench/cases/quic-10k/edge.toml "$WORK/"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
sync
( cd "$WORK" && exec "$BIN/sentientiq-edge" --config edge.toml 2> "$OUT/edge.log" ) &
edge=$!
trap 'kill -TERM $edge 2>/dev/null || true; wait $edge 2>/dev/null || true; rm -rf "$WORK"' EXIT
pin="$WORK/data/edge/quic/cert.sha256"
for _ in $(seq 1 200); do [ -s "$pin" ] && break; sleep 0.1; done
sleep 1
"$WATCH" "$OUT/watch.txt" &
per=$((${SESSIONS:-10000} / N))
for i in $(seq "$N"); do
  nice -n "${LOADGEN_NICE:-0}" "$BIN/sentientiq-loadgen" --edge ws://127.0.0.1:7460/v1/ws --sessions "$per" --duration 100s \
    --ramp 30s --seed "$i" --transport quic --quic-pin "$pin" --report "$OUT/report-$i.json" \
    2> "$OUT/progress-$i.txt" > "$OUT/summary-$i.txt" &
done
wait $(jobs -p | grep -v "^$edge$") 2>/dev/null || true
{ exec 3<>/dev/tcp/127.0.0.1/7460; } && {
  printf 'GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3
  cat <&3 > "$OUT/metrics.txt"; exec 3>&-; }
grep -h "p99\|ack\|connect" "$OUT"/summary-*.txt | head -20
