#!/usr/bin/env bash
# ws-10k-ramp10 (issue 20's tail case: both programs on both cores, the spool on the disk),
# alternated: A: /var/tmp/binE, the case as it is (every connection from 127.0.0.1);
# B: /var/tmp/binN with --source-ips 4. Each run starts once the load average is under 1.0.
set -u
cd "$(dirname "$0")/../../../.."
R=bench/runs/2026-12-03-vm/loadgen-ports
for round in ${ROUNDS:-1}; do
  for v in A B; do
    sync
    while [ "$(awk '{print ($1 < 1.0)}' /proc/loadavg)" != 1 ]; do sleep 5; done
    if [ "$v" = A ]; then bin=/var/tmp/binE; extra=; else bin=/var/tmp/binN; extra="--source-ips 4"; fi
    BENCH_BIN=$bin BENCH_LOADGEN_ARGS="$extra" BENCH_LABEL="loadgen-ports/ramp10-$v-$round" \
      scripts/bench-case.sh ws-10k-ramp10 > "$R/ramp10-$v-$round.log" 2>&1
  done
done
