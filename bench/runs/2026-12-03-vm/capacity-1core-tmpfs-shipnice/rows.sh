#!/usr/bin/env bash
# usage: rows.sh DIR... : ack/detection p99 at the loadgen, its send lag, the edge's own slow acks and slow commits
for r in "$@"; do
  l=$(python3 -c "
import json;r=json.load(open('$r/report.json'));l=r['latency_ms'];g=r['loadgen_lag_ms']
print('| %.1f | %.1f | %.1f' % (l['ack']['p99'], l['detection']['p99'], g['send']['p99']))")
  e=$(awk '/^siq_ack_seconds_bucket.*le="0.1"/ {a=$NF} /^siq_ack_seconds_bucket.*le="0.025"/ {b=$NF} /^siq_ack_seconds_count/ {c=$NF}
           /^siq_fsync_seconds_bucket.*le="0.025"/ {fb=$NF} /^siq_fsync_seconds_count/ {fc=$NF}
           END {printf "| %d | %d | %d", c-b, c-a, fc-fb}' "$r/metrics.txt")
  cpu=$(awk '/edge_cpu_s_per_million/ {print $2}' "$r/run.txt")
  echo "| $(basename "$r") $l $e | $cpu |"
done
