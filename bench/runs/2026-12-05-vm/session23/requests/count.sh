#!/usr/bin/env bash
# count.sh CASE (BIN=binaries directory): the edge of BIN serves CASE with its loadgen; 25 s in, perf records
# the io_uring requests the edge submits and its io_uring_enter calls for 5 s, and prints the frames
# handled in that window. Summarised with perf script | awk (the headers of ws-1k-*.txt).
set -u
S=edge; C=/work/main/bench/cases/${1:-ws-1k}; B=${BIN:-/var/tmp/binK}
W=$(mktemp -d); cp $C/edge.toml $W/; cd $W
$B/sentientiq-edge --config edge.toml 2> edge.log &
E=$!; sleep 3
$B/sentientiq-loadgen $(cat $C/loadgen.args) --report r.json > lg.txt 2>&1 &
G=$!
sleep 25
port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)".*/\1/p' edge.toml)
f0=$(curl -s http://127.0.0.1:$port/metrics | grep -E "^siq_frames_total" | awk '{print $2}')
perf record -e io_uring:io_uring_submit_req -e syscalls:sys_enter_io_uring_enter -p $E -o "${OUT:-/tmp/sqe.data}" -- sleep 5 > /dev/null 2>&1
f1=$(curl -s http://127.0.0.1:$port/metrics | grep -E "^siq_frames_total" | awk '{print $2}')
echo "frames in window: $((f1-f0))"
wait $G; kill -TERM $E; wait $E
