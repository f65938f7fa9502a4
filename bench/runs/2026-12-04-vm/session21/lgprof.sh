#!/bin/bash
# Profile the loadgen (and count context switches of both programs) in one quic-10k run.
# usage: lgprof.sh LABEL BIN [LOADGEN_ARGS]
set -u
cd /work/main
label=$1 bin=$2 extra=${3:-}
BENCH_BIN=$bin BENCH_SERVER=edge BENCH_LOADGEN_ARGS="$extra" BENCH_LABEL="session21/$label" scripts/bench-case.sh quic-10k > /tmp/$label.log 2>&1 &
sleep 75
lg=$(pgrep -f "sentientiq-loadgen.*--transport quic" | head -1)
ed=$(pgrep -f "sentientiq-edge --config" | head -1)
echo "loadgen $lg edge $ed"
perf stat -e context-switches,cpu-migrations,task-clock -p $lg -- sleep 10 2> /tmp/$label-lgstat.txt &
p1=$!
perf stat -e context-switches,cpu-migrations,task-clock -p $ed -- sleep 10 2> /tmp/$label-edstat.txt &
p2=$!
wait $p1 $p2
perf record -q -F 499 -g -p $lg -o /tmp/$label-lg.data -- sleep 15 > /dev/null 2>&1
wait
echo done
