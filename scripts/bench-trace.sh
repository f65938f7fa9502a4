#!/usr/bin/env bash
# One benchmark case (scripts/bench-case.sh, with all its settings from the environment) with a
# kernel trace of the whole machine in its middle, and where a frame's time went in it: how long
# data waited in each socket before the server or the loadgen read it, how long the server held
# a frame before it wrote back (the edge: its ack), its file syncs, what held the reader's CPU
# while its reads waited, split by whether the reader was runnable then (waiting for a CPU) or
# asleep, and, for every stall, what held its CPU (scripts/trace-delays.py). The report goes to trace.txt beside the run's
# record; the trace itself (tens of MB) to /tmp/trace-LABEL.data.
#
#   scripts/bench-trace.sh CASE [AT_S FOR_S]     # default: from 40 s into the run, for 4 s
#
# The tracepoints fire on every socket read and write (about 70 000 a second at 14 000
# sessions): the run's own figures carry their cost. Read the trace for where time goes, and take
# CPU and latency from runs without it. Needs root (perf record -a).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME=${1:?usage: scripts/bench-trace.sh CASE [AT_S FOR_S]}
AT=${2:-40}
FOR=${3:-4}
export BENCH_DAY=${BENCH_DAY:-$(date -u +%F)}
LABEL=${BENCH_LABEL:-$NAME}
OUT="bench/runs/$BENCH_DAY-$(hostname)/$LABEL"
DATA="/tmp/trace-${LABEL//\//-}.data"
(
  sleep "$AT"
  perf record -a -o "$DATA" \
    -e sock:sk_data_ready,sock:sock_recv_length,sock:sock_send_length,sched:sched_switch,sched:sched_wakeup \
    -e ext4:ext4_sync_file_enter,ext4:ext4_sync_file_exit -- sleep "$FOR" > "$DATA.log" 2>&1
) &
tracer=$!
scripts/bench-case.sh "$NAME"
wait "$tracer" || { echo "perf record failed:" >&2; cat "$DATA.log" >&2; exit 1; }
{
  echo "trace: perf record -a of the socket, scheduler and ext4 sync tracepoints, ${FOR} s from ${AT} s into the run"
  perf script -i "$DATA" -s scripts/trace-delays.py 2> /dev/null
} > "$OUT/trace.txt"
cat "$OUT/trace.txt"
