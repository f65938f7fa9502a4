#!/usr/bin/env bash
# The events builder's shared columns appended once per frame (B) against once per row (A):
# the lake's criterion bench (lake/benches/events.rs), in each round (ROUNDS, default "1 2 3")
# the two in ORDER (default "A B"), each on CPU 1 once the load average is under 1.0.
#   A: /var/tmp/lakebench-A, `cargo bench -p sentientiq-lake --bench events --no-run` at 3eda61c;
#   B: /var/tmp/lakebench-B, the same with this change.
# Writes V-ROUND.txt beside this script; rows: grep -A2 "^lake/" lake-bulk/*.txt
set -u
cd "$(dirname "$0")"
for round in ${ROUNDS:-1 2 3}; do
  for v in ${ORDER:-A B}; do
    ../../../../scripts/bench-settle.sh
    taskset -c 1 /var/tmp/lakebench-$v --bench --noplot --discard-baseline > "$v-$round.txt" 2>&1
  done
done
