#!/usr/bin/env bash
# The baseline's spool syncs beside the edge's (PERF_STAT=1 scripts/bench-perf.sh): a ws-10k run
# of sentientiq-baseline (scripts/bench-case.sh), and from 58 s of it, for 10 s, its fdatasync
# calls and context switches per thread (perf stat) with each thread's CPU ticks before and
# after, into OUT:
#   bench/runs/2026-12-03-vm/dsync-ab/baseline-syncs.sh OUT   (from the repository root)
set -u
OUT=${1:?out file}
ticks() {
  for t in /proc/"$1"/task/*; do awk '{print "thread", $1, $2, "utime+stime ticks", $14 + $15}' "$t/stat"; done
}
( sleep 58
  pid=$(pgrep -f "sentientiq-baseline --listen" | head -1)
  { ticks "$pid"
    perf stat --per-thread -e context-switches,syscalls:sys_enter_fdatasync -p "$pid" -- sleep 10 2>&1 \
      | grep -v "not counted" | awk '$2 != 0'
    ticks "$pid"; } > "$OUT" ) &
BENCH_BIN=/var/tmp/binD BENCH_SERVER=baseline BENCH_LABEL=dsync-ab/ws-10k-baseline-syncs \
  scripts/bench-case.sh ws-10k > /dev/null 2>&1
wait
