#!/usr/bin/env bash
set -x
cd /work/main
while pgrep -f round2.sh > /dev/null; do sleep 5; done
export BENCH_DAY=2026-12-05
J=/var/tmp/binJ31
scripts/bench-rounds.sh session31/vs-1shard 1 "ws-1k ws-5k ws-10k-ramp10" baseline=$J:baseline durable-floor-1shard=$J:floor-uring:--spool+data/floor+--shards+1
echo done
