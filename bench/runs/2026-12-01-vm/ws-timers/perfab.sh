#!/usr/bin/env bash
# usage: perfab.sh CASE LABEL BIN_DIR
# ring-depth-perf/perfab.sh with the binaries' directory as an argument: the edge and loadgen of
# BIN_DIR run bench/cases/CASE; 55 s in, `perf record -F 499 -g` of the edge for 15 s.
set -u
CASE=/work/main/bench/cases/$1; LABEL=$2; BIN=$3
W=$(mktemp -d); cp $CASE/edge.toml $W/
ulimit -n 65536
( cd $W && exec $BIN/sentientiq-edge --config edge.toml 2> edge.log ) &
E=$!
sleep 3
$BIN/sentientiq-loadgen $(cat $CASE/loadgen.args) --report $W/r.json > $W/lg.txt 2>&1 &
L=$!
sleep 55
perf record -F 499 -g -p $E -o /tmp/perf-$LABEL.data -- sleep 15 2>/dev/null >/dev/null
wait $L
kill -TERM $E; wait $E
perf report -i /tmp/perf-$LABEL.data --no-children --sort symbol 2>/dev/null | grep -v "^#" | grep -v "^$" | head -25 > /tmp/perf-$LABEL.txt
grep -E "ack " $W/lg.txt | head -2 >> /tmp/perf-$LABEL.txt
rm -rf $W
