#!/usr/bin/env bash
# The loadgen's source addresses, A then B in each round (ROUNDS, default "1 2"):
#   A: /var/tmp/binE (5ccf51e), the case as it was: every connection from 127.0.0.1, the port
#      chosen by connect() among all of them;
#   B: /var/tmp/binN (the same edge; the loadgen binding its source address with
#      IP_BIND_ADDRESS_NO_PORT) with --source-ips 4.
# CASE=capacity-1core (the default) is one core with the disk taken out, at SESSIONS (default
# 16 000), records SESSIONS-V-ROUND; CASE=ws-10k-ramp10 runs that case as it is (both cores,
# the disk), records ramp10-V-ROUND (the case name without `ws-10k-`). Each run starts once the load average is under 1.0.
# Rows: scripts/bench-row.py --tail bench/runs/2026-12-03-vm/loadgen-ports/*-?-?
# Run before bench/cases/capacity-1core/loadgen.args took `--source-ips 4` (this session's
# commit): to repeat it after, take that option out of the case for A, and B needs no extra.
set -u
cd "$(dirname "$0")/../../../.."
R=bench/runs/2026-12-03-vm/loadgen-ports
CASE=${CASE:-capacity-1core}
for round in ${ROUNDS:-1 2}; do
  for v in A B; do
    scripts/bench-settle.sh
    if [ "$v" = A ]; then bin=/var/tmp/binE; extra=; else bin=/var/tmp/binN; extra="--source-ips 4"; fi
    if [ "$CASE" = capacity-1core ]; then
      name=${SESSIONS:-16000}-$v-$round
      env=(BENCH_DATA_TMPFS=4g BENCH_SESSIONS="${SESSIONS:-16000}" BENCH_SERVER_CPUS=0 BENCH_LOADGEN_CPUS=1)
    else
      name=${CASE#ws-10k-}-$v-$round
      env=()
    fi
    env "${env[@]}" BENCH_BIN=$bin BENCH_LOADGEN_ARGS="$extra" BENCH_LABEL="loadgen-ports/$name" \
      scripts/bench-case.sh "$CASE" > "$R/$name.log" 2>&1
  done
done
