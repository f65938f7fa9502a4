#!/usr/bin/env bash
set -x
cd /work/main
export BENCH_DAY=2026-12-05
I=/var/tmp/binI31
J=/var/tmp/binJ31
BENCH_BIN=$I CAPACITY_LABEL=session31/capacity-1core-b scripts/bench-capacity.sh 18000 2000 30000
BENCH_BIN=$J BENCH_SERVER=baseline CAPACITY_LABEL=session31/capacity-1core-baseline scripts/bench-capacity.sh 12000 2000 30000
scripts/bench-rounds.sh session31/vs 2 "ws-1k ws-5k ws-10k-ramp10" edge=$I:edge baseline=$J:baseline durable-floor=$J:floor-uring:--spool+data/floor
echo done
