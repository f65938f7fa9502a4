#!/bin/bash
# usage: run.sh MODE N SZ -> non-idle CPU µs per commit from system-wide perf sampling
m=$1; n=$2; sz=$3
./c $m 1 $sz >/dev/null  # prezero happens each run; do it inside the run too
perf record -q -a -F 2999 -o p.$m.data -- ./c $m $n $sz > out.$m 2>/dev/null
tot=$(perf report -i p.$m.data --stdio --sort comm -F overhead,comm 2>/dev/null | grep -v '^#' | grep -v '^$' )
idle=$(echo "$tot" | awk '$2=="swapper"{gsub("%","",$1); print $1}')
samples=$(perf report -i p.$m.data --stdio 2>/dev/null | grep -m1 "^# Samples" | awk '{print $3}')
echo "$m $(cat out.$m | cut -d' ' -f4) idle%=$idle samples=$samples"
echo "$tot" | head -8
