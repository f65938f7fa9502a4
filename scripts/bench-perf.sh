#!/usr/bin/env bash
# A CPU profile of the edge under a benchmark case: the edge and loadgen of BIN_DIR run
# bench/cases/CASE; 55 s in (every session connected), `perf record -F 499 -g` of the edge for
# 15 s into /tmp/perf-LABEL.data, and the top symbols plus the loadgen's ack line into
# /tmp/perf-LABEL.txt. The profile's own overhead shows in that run's figures: use only its
# shares, and take CPU and latency from scripts/bench-case.sh runs.
#
#   scripts/bench-perf.sh CASE LABEL BIN_DIR
#
# BENCH_SERVER_ARGS="KEY=VALUE ..." sets the edge's `[edge]` settings (e.g. shards=1), as in
# scripts/bench-case.sh (scripts/edge-settings.py).
#
# PERF_STAT=1 counts instead of sampling: per thread, over PERF_STAT_S seconds (below), context
# switches, the syscalls the shards make (membarrier, io_uring_enter, sendto, recvfrom, write,
# futex, fdatasync), their io_uring requests, armed polls and completions, with the edge's CPU
# ticks (the process's and each thread's), its frame counters, spool commits (synchronous writes) and the
# lake's shipped rows and segments around them, into /tmp/perf-LABEL.txt.
# Tracepoints cost time per syscall: use the counts, not its CPU. PERF_STAT_S sets the window
# (default 10 s); 45 s from 55 s covers the first segments' shipping in `ws-10k` (sealed at 60 s).
set -u
cd "$(dirname "$0")/.."
CASE="bench/cases/${1:?usage: scripts/bench-perf.sh CASE LABEL BIN_DIR}"
LABEL=${2:?label}
BIN=$(cd "${3:?binaries directory}" && pwd)
W=$(mktemp -d); cp "$CASE/edge.toml" "$W/"
# shellcheck disable=SC2086
scripts/edge-settings.py "$W/edge.toml" ${BENCH_SERVER_ARGS:-} || { rm -rf "$W"; exit 1; }
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
( cd "$W" && exec "$BIN/sentientiq-edge" --config edge.toml 2> edge.log ) &
E=$!
sleep 3
# shellcheck disable=SC2046
"$BIN/sentientiq-loadgen" $(cat "$CASE/loadgen.args") --report "$W/r.json" > "$W/lg.txt" 2>&1 &
L=$!
sleep 55
OUT="/tmp/perf-$LABEL.txt"
echo "settings: ${BENCH_SERVER_ARGS:-none}" > "$OUT"
if [ -n "${PERF_STAT:-}" ]; then
  port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$CASE/edge.toml")
  frames() { curl -s "http://127.0.0.1:$port/metrics" | grep -E "^siq_((frames|forwarded_frames|ws_handoffs|lake_rows|lake_segments_shipped)_total|fsync_seconds_count)"; }
  # utime+stime are fields 14 and 15 of stat; the thread's name (field 2) has no spaces here.
  ticks() {
    awk '{print "edge utime+stime ticks", $14 + $15}' "/proc/$E/stat"
    for t in /proc/"$E"/task/*; do
      awk '{print "thread", $2, "utime+stime ticks", $14 + $15}' "$t/stat"
    done
  }
  { ticks; frames; } >> "$OUT"
  ev=context-switches
  for c in membarrier io_uring_enter sendto recvfrom write futex fdatasync; do
    ev="$ev,syscalls:sys_enter_$c"
  done
  # The io_uring requests the shards submit, the polls the kernel arms, the requests it hands to
  # its io-wq workers (the iou-wrk threads) and the completions.
  ev="$ev,io_uring:io_uring_submit_req,io_uring:io_uring_poll_arm,io_uring:io_uring_queue_async_work"
  ev="$ev,io_uring:io_uring_complete"
  perf stat --per-thread -e "$ev" -p "$E" -- sleep "${PERF_STAT_S:-10}" 2>&1 | grep -v "not counted" >> "$OUT"
  { ticks; frames; } >> "$OUT"
  wait "$L"
  kill -TERM "$E"; wait "$E"
else
  perf record -F 499 -g -p "$E" -o "/tmp/perf-$LABEL.data" -- sleep 15 > /dev/null 2>&1
  wait "$L"
  kill -TERM "$E"; wait "$E"
  perf report -i "/tmp/perf-$LABEL.data" --no-children --sort symbol 2>/dev/null | grep -v "^#" \
    | grep -v "^$" | head -25 >> "$OUT"
fi
grep -E "ack " "$W/lg.txt" | head -2 >> "$OUT"
rm -rf "$W"
