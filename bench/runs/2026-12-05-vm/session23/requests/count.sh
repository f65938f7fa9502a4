#!/usr/bin/env bash
# count.sh CASE (BIN=binaries directory): the edge of BIN serves CASE with its loadgen; 25 s in,
# perf records the io_uring requests the edge submits and its io_uring_enter calls for 5 s, and
# prints the frames handled in that window. Summarised with perf script | awk (the headers of
# ws-1k-*.txt; SUMMARY=1 prints that summary). IRQ=1 also prints the machine's rescheduling and
# function-call interrupts in the window (/proc/interrupts RES and CAL, both CPUs summed, the
# loadgen's share included; session24/requests/count.sh sets both).
set -u
S=edge; C=/work/main/bench/cases/${1:-ws-1k}; B=${BIN:-/var/tmp/binK}
W=$(mktemp -d); cp $C/edge.toml $W/; cd $W
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
$B/sentientiq-edge --config edge.toml 2> edge.log &
E=$!; sleep 3
$B/sentientiq-loadgen $(cat $C/loadgen.args) --report r.json > lg.txt 2>&1 &
G=$!
sleep 25
port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)".*/\1/p' edge.toml)
irq() { [ -n "${IRQ:-}" ] && awk '$1=="RES:"||$1=="CAL:" {print $1, $2+$3}' /proc/interrupts; }
f0=$(curl -s http://127.0.0.1:$port/metrics | grep -E "^siq_frames_total" | awk '{print $2}')
i0=$(irq)
perf record -e io_uring:io_uring_submit_req -e syscalls:sys_enter_io_uring_enter -p $E -o "${OUT:-/tmp/sqe.data}" -- sleep 5 > /dev/null 2>&1
i1=$(irq)
f1=$(curl -s http://127.0.0.1:$port/metrics | grep -E "^siq_frames_total" | awk '{print $2}')
echo "frames in window: $((f1-f0))"
[ -n "${IRQ:-}" ] && paste <(echo "$i0") <(echo "$i1") | awk '{print "interrupts", $1, $4-$2}'
wait $G; kill -TERM $E; wait $E
if [ -n "${SUMMARY:-}" ]; then
  perf script -i "${OUT:-/tmp/sqe.data}" 2>/dev/null | awk '/io_uring_enter/ {print $1, "io_uring_enter"; next} /io_uring_submit_req/ {for (i=1;i<=NF;i++) if ($i=="opcode") print $1, "SQE", $(i+1)}' | sort | uniq -c
fi
