#!/usr/bin/env bash
# Alternated rounds of several servers on each case, each run started once the machine is
# settled. A server is NAME=BIN_DIR:SERVER[:ARGS] (SERVER as BENCH_SERVER, ARGS as
# BENCH_SERVER_ARGS, with '+' for spaces). Records go beside this script, in
# LABEL/CASE-NAME-ROUND.
#   Usage: rounds.sh LABEL ROUNDS "CASE..." NAME=BIN:SERVER[:ARGS]...
set -euo pipefail
label=${1:?label} rounds=${2:?rounds} cases=${3:?cases}
shift 3
here=$(cd "$(dirname "$0")" && pwd)
session=$(basename "$here")
cd "$here/../../../.."
dir="$here/$label"
mkdir -p "$dir"
for c in $cases; do
  for i in $(seq 1 "$rounds"); do
    for spec in "$@"; do
      name=${spec%%=*} rest=${spec#*=}
      IFS=: read -r bin server args <<< "$rest"
      scripts/bench-settle.sh
      BENCH_BIN=$bin BENCH_SERVER=$server BENCH_SERVER_ARGS="${args//+/ }" \
        BENCH_LABEL="$session/$label/$c-$name-$i" scripts/bench-case.sh "$c" \
        > "$dir/$c-$name-$i.log" 2>&1
      scripts/bench-row.py "$dir/$c-$name-$i"
    done
  done
done
