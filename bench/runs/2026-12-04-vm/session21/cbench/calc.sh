#!/bin/bash
# non-idle cpu-ms and per-commit µs
for m in "$@"; do
 f=p.$m.data
 s=$(perf report -i $f --stdio --sort comm 2>/dev/null | awk '/^# Samples/{print $3}' | head -1)
 perf report -i $f --stdio --sort comm -F sample,comm 2>/dev/null | grep -v '^#' | awk -v m=$m '{if($2=="swapper")idle+=$1; else busy+=$1} END{printf "%s busy=%d samples idle=%d => %.1f us/commit (n=5000, 2999Hz)\n", m, busy, idle, busy/2999*1e6/5000}'
done
