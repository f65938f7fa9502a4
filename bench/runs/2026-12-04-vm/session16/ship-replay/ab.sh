#!/bin/bash
# N alternated rounds of replays of /var/tmp/shiprec (scripts/bench-ship-replay.sh record):
#   ab.sh N LABEL1 BIN1 LABEL2 BIN2 ...   -> /var/tmp/shiprec/LABELk-ROUND.txt
set -euo pipefail
[ $# -ge 3 ] && [ $(( ($# - 1) % 2 )) -eq 0 ] || { echo "usage: ab.sh N LABEL BIN [LABEL BIN]..." >&2; exit 2; }
N=$1; shift
args=()
while [ $# -gt 0 ]; do args+=("$1" "$(realpath "$2")"); shift 2; done
cd "$(dirname "$0")/../../../../.."
for r in $(seq 1 "$N"); do
  for ((i = 0; i < ${#args[@]}; i += 2)); do
    scripts/bench-ship-replay.sh replay /var/tmp/shiprec "${args[i]}-$r" "${args[i+1]}" > /dev/null
  done
done
