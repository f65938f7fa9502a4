#!/usr/bin/env bash
set -u
cd /work/main
export BENCH_BIN=/var/tmp/binM BENCH_DAY=2026-12-06
scripts/bench-vs-baseline.sh session35/vs-baseline 1 ws-1k ws-5k ws-10k
scripts/bench-settle.sh
BENCH_SERVER=floor-uring BENCH_SERVER_ARGS="--spool data/floor" BENCH_LABEL=session35/vs-baseline/ws-10k-durable-floor-1 scripts/bench-case.sh ws-10k > bench/runs/2026-12-06-vm/session35/vs-baseline/ws-10k-durable-floor-1.log 2>&1
scripts/bench-row.py bench/runs/2026-12-06-vm/session35/vs-baseline/ws-10k-durable-floor-1
scripts/bench-settle.sh
BENCH_LABEL=session35/ws-10k-ramp10-1 scripts/bench-case.sh ws-10k-ramp10 > /tmp/ramp10.log 2>&1
scripts/bench-row.py bench/runs/2026-12-06-vm/session35/ws-10k-ramp10-1
echo BENCH-DONE
