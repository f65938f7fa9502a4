#!/usr/bin/env bash
# ab.sh PREFIX ROUNDS A=BIN B=BIN ...: shipper replays alternated, one line per run.
set -u
prefix=$1 rounds=$2; shift 2
cd /work/main
for r in $(seq 1 $rounds); do
  for nb in "$@"; do
    n=${nb%%=*} b=${nb#*=}
    l=$prefix-$n-$r
    scripts/bench-ship-replay.sh replay /var/tmp/s25/rec $l $b > /var/tmp/s30/$l.log 2>&1
    f=/var/tmp/s25/rec/$l.txt
    echo "$l $(date +%H:%M:%S) ns/row $(awk '/shipper_ns_per_row/ {print $2}' $f) rss $(awk '/edge_rss_peak_kb/ {print $2}' $f) rows $(awk '/^rows/ {print $2}' $f) errs $(awk '/lake_errors/ {print $2}' $f) files $(sed -n '/lake files/,$p' $f | sha256sum | cut -c1-12)"
  done
done
