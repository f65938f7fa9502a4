#!/usr/bin/env bash
# This session's edge against the one before it, `ws-10k` as it is (both cores, the disk):
#   N: /var/tmp/binN (edge 5ccf51e, the thirteenth session's loadgen);
#   S: /var/tmp/binS (6de8542: the spool directory's sync, the lake's once-per-frame columns,
#      the local lake's directory chain synced; the same loadgen code).
# N then S in each round (ROUNDS, default "1 2 3"), each started at load < 1.0; records
# session14-ab/V-ROUND. Rows: scripts/bench-row.py --tail bench/runs/2026-12-03-vm/session14-ab/?-?
set -u
cd "$(dirname "$0")/../../../.."
R=bench/runs/2026-12-03-vm/session14-ab
for round in ${ROUNDS:-1 2 3}; do
  for v in N S; do
    scripts/bench-settle.sh
    BENCH_BIN=/var/tmp/bin$v BENCH_LABEL="session14-ab/$v-$round" \
      scripts/bench-case.sh ws-10k > "$R/$v-$round.log" 2>&1
  done
done
