#!/usr/bin/env bash
# Syscall and context-switch counts of the edge, per thread, over 10 s at the steady state of a
# bench case (55 s in), with the edge's CPU ticks and frame counter around them; written to
# OUT_DIR/LABEL.txt. perf's tracepoints cost time per syscall: use the counts, not this run's
# CPU figures, and take CPU from scripts/bench-case.sh runs.
#
#   bench/runs/2026-12-02-vm/ws-handoff/syscalls/run.sh CASE LABEL BIN_DIR [OUT_DIR]
set -u
OUT_DIR=$(cd "${4:-$(dirname "$0")}" && pwd)
cd "$(dirname "$0")/../../../../.."
CASE=bench/cases/${1:?case}; LABEL=${2:?label}; BIN=${3:?bin}
W=$(mktemp -d); cp "$CASE/edge.toml" "$W/"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
( cd "$W" && exec "$BIN/sentientiq-edge" --config edge.toml 2> edge.log ) &
E=$!
sleep 3
"$BIN/sentientiq-loadgen" $(cat "$CASE/loadgen.args") --report "$W/r.json" > "$W/lg.txt" 2>&1 &
L=$!
sleep 55
cat /proc/$E/stat | awk '{print "edge utime+stime ticks before", $14+$15}' > $OUT_DIR/$LABEL.txt
perf stat --per-thread -e context-switches,syscalls:sys_enter_membarrier,syscalls:sys_enter_io_uring_enter,syscalls:sys_enter_sendto,syscalls:sys_enter_recvfrom,syscalls:sys_enter_write,syscalls:sys_enter_futex,syscalls:sys_enter_fdatasync -p $E -- sleep 10 >> $OUT_DIR/$LABEL.txt 2>&1
cat /proc/$E/stat | awk '{print "edge utime+stime ticks after", $14+$15}' >> $OUT_DIR/$LABEL.txt
curl -s http://127.0.0.1:7460/metrics | grep -E "^siq_frames|^siq_acks|frames_total" | head >> $OUT_DIR/$LABEL.txt
sleep 10; curl -s http://127.0.0.1:7460/metrics | grep -E "^siq_frames|frames_total" | head >> $OUT_DIR/$LABEL.txt
wait $L
kill -TERM $E; wait $E
grep -E "ack |frames" "$W/lg.txt" | head -5 >> $OUT_DIR/$LABEL.txt
rm -rf "$W"
