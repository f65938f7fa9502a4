#!/usr/bin/env bash
set -x
cd /work/main
B=/var/tmp/binI31
BENCH_BIN=$B CAPACITY_LABEL=session31/capacity-1core scripts/bench-capacity.sh 12000 1000 17000
BENCH_BIN=$B BENCH_SERVER=baseline CAPACITY_LABEL=session31/capacity-1core-baseline scripts/bench-capacity.sh 12000 2000 24000
scripts/bench-rounds.sh session31/mixed 2 "mixed-10k quic-10k-mux" I=$B:edge
echo done
