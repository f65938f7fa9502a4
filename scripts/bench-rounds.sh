#!/usr/bin/env bash
# Alternated rounds of several servers on each case, each run started once the machine is
# settled (scripts/bench-settle.sh): for each case, for each round, every server in turn. A
# server is NAME=BIN_DIR:SERVER[:ARGS] (BIN_DIR as BENCH_BIN, SERVER as BENCH_SERVER, ARGS as
# BENCH_SERVER_ARGS with '+' for spaces). Records go to bench/runs/<date>-<host>/LABEL/
# CASE-NAME-ROUND (LABEL may hold a slash, e.g. session18/adaptive), each with its row printed.
#   Usage: scripts/bench-rounds.sh LABEL ROUNDS "CASE..." NAME=BIN_DIR:SERVER[:ARGS]...
set -euo pipefail
label=${1:?label} rounds=${2:?rounds} cases=${3:?cases}
shift 3
[ $# -gt 0 ] || { echo "no server given (NAME=BIN_DIR:SERVER[:ARGS])" >&2; exit 1; }
cd "$(dirname "$0")/.."
# One day for the whole series (bench-case.sh's BENCH_DAY): a series crossing midnight stays in one folder.
export BENCH_DAY=${BENCH_DAY:-$(date -u +%F)}
dir="bench/runs/$BENCH_DAY-$(hostname)/$label"
# A record is never overwritten: a label already used for one of these runs is refused.
for c in $cases; do for i in $(seq 1 "$rounds"); do for spec in "$@"; do
  if [ -e "$dir/$c-${spec%%=*}-$i" ]; then
    echo "$dir/$c-${spec%%=*}-$i exists: use another label" >&2; exit 1
  fi
done; done; done
mkdir -p "$dir"
for c in $cases; do
  for i in $(seq 1 "$rounds"); do
    for spec in "$@"; do
      name=${spec%%=*} rest=${spec#*=}
      IFS=: read -r bin server args <<< "$rest"
      scripts/bench-settle.sh
      BENCH_BIN=$bin BENCH_SERVER=$server BENCH_SERVER_ARGS="${args//+/ }" \
        BENCH_LABEL="$label/$c-$name-$i" scripts/bench-case.sh "$c" \
        > "$dir/$c-$name-$i.log" 2>&1
      scripts/bench-row.py "$dir/$c-$name-$i"
    done
  done
done
