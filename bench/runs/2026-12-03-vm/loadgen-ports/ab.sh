#!/usr/bin/env bash
# A one-core capacity step (SESSIONS, default 16 000; disk taken out), alternated (ROUNDS, default "1 2"):
#   A: /var/tmp/binE (5ccf51e), the case as it is: every connection from 127.0.0.1, the port
#      chosen by connect() among those 16 000;
#   B: /var/tmp/binN (the same edge; the loadgen binding its source address with
#      IP_BIND_ADDRESS_NO_PORT) with --source-ips 4.
# Each run starts once the load average is under 1.0. Rows: scripts/bench-row.py --tail */
# Run before bench/cases/capacity-1core/loadgen.args took `--source-ips 4` (this session's
# commit): to repeat it after, take that option out of the case for A, and B needs no extra.
set -u
cd "$(dirname "$0")/../../../.."
R=bench/runs/2026-12-03-vm/loadgen-ports
for round in ${ROUNDS:-1 2}; do
  for v in A B; do
    sync
    while [ "$(awk '{print ($1 < 1.0)}' /proc/loadavg)" != 1 ]; do sleep 5; done
    if [ "$v" = A ]; then bin=/var/tmp/binE; extra=; else bin=/var/tmp/binN; extra="--source-ips 4"; fi
    BENCH_BIN=$bin BENCH_LOADGEN_ARGS="$extra" BENCH_DATA_TMPFS=4g BENCH_SESSIONS=${SESSIONS:-16000} \
      BENCH_SERVER_CPUS=0 BENCH_LOADGEN_CPUS=1 BENCH_LABEL="loadgen-ports/${SESSIONS:-16000}-$v-$round" \
      scripts/bench-case.sh capacity-1core > "$R/${SESSIONS:-16000}-$v-$round.log" 2>&1
  done
done
