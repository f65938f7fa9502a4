#!/bin/bash
# N alternated rounds of replays of /var/tmp/shiprec (scripts/bench-ship-replay.sh record):
#   ab.sh N LABEL1 BIN1 LABEL2 BIN2 ...   -> /var/tmp/shiprec/LABELk-ROUND.txt
cd "$(dirname "$0")/../../../../.." || exit 1
N=$1; shift
args=("$@")
for r in $(seq 1 "$N"); do
  for ((i = 0; i < ${#args[@]}; i += 2)); do
    scripts/bench-ship-replay.sh replay /var/tmp/shiprec "${args[i]}-$r" "${args[i+1]}" > /dev/null
  done
done
