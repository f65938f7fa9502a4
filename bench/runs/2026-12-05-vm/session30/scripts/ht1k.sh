#!/usr/bin/env bash
# ht1k.sh BIN LABEL: heaptrack of BIN's edge on ws-1k (1000 sessions, 60 s, then 20 s for the shipment).
set -u
bin=$1 label=$2
d=/var/tmp/s30/ht-$label; rm -rf $d; mkdir -p $d; cd $d
cp /work/main/bench/cases/ws-1k/edge.toml .
ulimit -n $(ulimit -Hn)
(heaptrack -o $d/edge $bin/sentientiq-edge --config edge.toml > edge.out 2> edge.log &)
for _ in $(seq 1 100); do (exec 3<>/dev/tcp/127.0.0.1/7460) 2>/dev/null && break; sleep 0.2; done
$bin/sentientiq-loadgen $(cat /work/main/bench/cases/ws-1k/loadgen.args) > lg.txt 2>&1
tail -1 lg.txt
sleep 20
curl -s http://127.0.0.1:7460/metrics | grep -E "^siq_lake_(rows|segments_shipped)_total"
pkill -TERM -f "$bin/sentientiq-edge"; sleep 8
heaptrack_print -f edge.zst 2>/dev/null | grep -E "peak heap memory|peak RSS|total memory leaked"
heaptrack_print -f edge.zst -F stacks.txt --flamegraph-cost-type peak > /dev/null 2>&1
awk '{n=$NF; $NF=""; print n, $0}' stacks.txt | sort -rn | head -25 | awk '{printf "%.2f MB ", $1/1e6; n=split($0,a,";"); s=""; for(i=n;i>n-5&&i>1;i--) s=s" <- "a[i]; print substr(s,1,400)}'
