#!/usr/bin/env bash
# The seventeenth session's alternated rounds, now scripts/bench-rounds.sh (the same runs, one
# case per call). Records go to session17/LABEL/CASE-NAME-ROUND.
#   Usage: rounds.sh LABEL ROUNDS CASE NAME=BIN:SERVER[:ARGS]...
set -euo pipefail
label=${1:?label} rounds=${2:?rounds} case=${3:?case}
shift 3
exec "$(dirname "$0")/../../../../scripts/bench-rounds.sh" "session17/$label" "$rounds" "$case" "$@"
