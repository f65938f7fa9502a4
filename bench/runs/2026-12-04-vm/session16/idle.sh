#!/bin/bash
# The edge's CPU with no load: ws-1k's config, 10 s after start, per thread over 60 s.
#   idle.sh BIN_DIR OUT
set -u
BIN=$(realpath "${1:?bin}"); OUT=$(realpath -m "${2:?out}")
cd "$(dirname "$0")/../../../.." || exit 1
W=$(mktemp -d); cp bench/cases/ws-1k/edge.toml "$W/"
( cd "$W" && exec "$BIN/sentientiq-edge" --config edge.toml 2> edge.log ) &
E=$!
trap 'kill -TERM $E 2>/dev/null; wait $E; rm -rf "$W"' EXIT
HZ=$(getconf CLK_TCK)
sleep 10
snap() { for t in /proc/$E/task/*; do awk '{print $1, $2, $14 + $15}' "$t/stat"; done; }
snap > "$W"/a; sleep 60; snap > "$W"/b
join "$W"/a "$W"/b | awk -v hz="$HZ" '{d=$5-$3; tot+=d; print $2, "ticks", d} END {print "total ticks over 60 s", tot, "(" hz " per second)"}' > "$OUT"
