#!/usr/bin/env bash
# A CPU profile of a transport floor under a case: 40 s in (every session connected),
# `perf record -F 499 -g` of the floor for 15 s; the top entries by DSO and by symbol go
# beside this script.  Usage: prof-floor.sh SERVER CASE BIN_DIR LABEL
# (SERVER is floor, floor-glommio or floor-uring; BIN_DIR holds the release binaries).
# RECORD=DIR (a directory under bench/runs/, e.g. 2026-12-05-vm/session25) puts the run's record
# and the top entries there instead (the record is dated by the day it runs, as always).
set -euo pipefail
server=${1:?server} case=${2:?case} bin=${3:?binaries} label=${4:?label}
here=$(cd "$(dirname "$0")" && pwd)
cd "$here/../../../.."
exe=$([ "$server" = floor ] && echo sentientiq-baseline || echo "sentientiq-$server")
out=$here
rec=session17
if [ -n "${RECORD:-}" ]; then
  out=bench/runs/$RECORD
  rec=${RECORD#*/}
  mkdir -p "$out"
fi
BENCH_BIN=$bin BENCH_SERVER=$server BENCH_LABEL=$rec/prof-$label scripts/bench-case.sh "$case" > /dev/null 2>&1 &
run=$!
sleep 40
pid=$(pgrep -n -f "$bin/$exe")
perf record -F 499 -g -o "/tmp/perf-$label.data" -p "$pid" -- sleep 15 2> /dev/null
wait $run
{
  echo "# perf record -F 499 -g -p <$server> -- sleep 15, 40 s into $case ($bin)"
  echo "## by DSO"
  perf report -i "/tmp/perf-$label.data" --no-children --sort dso --stdio -g none 2> /dev/null | grep -v '^#' | grep -v '^$' | head -12
  echo "## by symbol (no children)"
  perf report -i "/tmp/perf-$label.data" --no-children --sort sym --stdio -g none 2> /dev/null | grep -v '^#' | grep -v '^$' | head -40
} > "$out/prof-$label-top.txt"
