#!/usr/bin/env bash
# Alternated rounds of several servers on one case, each run started once the machine is
# settled. A server is NAME=BIN_DIR:SERVER[:ARGS] (SERVER as BENCH_SERVER, ARGS as
# BENCH_SERVER_ARGS, with '+' for spaces). Records go to session17/LABEL/CASE-NAME-ROUND.
#   Usage: rounds.sh LABEL ROUNDS CASE NAME=BIN:SERVER[:ARGS]...
set -euo pipefail
label=${1:?label} rounds=${2:?rounds} case=${3:?case}
shift 3
cd "$(dirname "$0")/../../../.."
dir="bench/runs/$(date -u +%F)-$(hostname)/session17/$label"
mkdir -p "$dir"
for i in $(seq 1 "$rounds"); do
  for spec in "$@"; do
    name=${spec%%=*} rest=${spec#*=}
    IFS=: read -r bin server args <<< "$rest"
    scripts/bench-settle.sh
    BENCH_BIN=$bin BENCH_SERVER=$server BENCH_SERVER_ARGS="${args//+/ }" \
      BENCH_LABEL="session17/$label/$case-$name-$i" scripts/bench-case.sh "$case" \
      > "$dir/$case-$name-$i.log" 2>&1
    scripts/bench-row.py "$dir/$case-$name-$i"
  done
done
