#!/usr/bin/env bash
# Idle CPU of an edge build: ws-1k's config, each thread's run time (schedstat) and switches over 30 s after 5 s.
set -euo pipefail
BIN=$1
W=$(mktemp -d /var/tmp/s30/idle.XXXX)
cp /work/main/bench/cases/ws-1k/edge.toml "$W/"
cd "$W"
"$BIN/sentientiq-edge" --config edge.toml 2> edge.log &
pid=$!
sleep 5
snap() { for t in /proc/$pid/task/*; do printf "%s %s %s\n" "$(tr ' ' _ < $t/comm)" "$(cut -d' ' -f1 $t/schedstat)" "$(awk '/^nr_switches/ {print $3}' $t/sched)"; done; }
snap > a.txt; sleep 30; snap > b.txt
paste -d' ' a.txt b.txt | awk '{d=($4-$2)/1e6; s=$6-$3; tot+=d; if (d>0.01||s>0) printf "%-18s %8.2f ms  %6d switches\n", $1, d, s} END {printf "total %.2f ms CPU in 30 s\n", tot}'
kill $pid; wait $pid 2>/dev/null || true
cd /; rm -rf "$W"
