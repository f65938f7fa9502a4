#!/usr/bin/env python3
"""One row per run directory: the loadgen's p99s, its own lateness, and the edge's view.

usage: table.py DIR...  (each a bench-case.sh record of ws-10k-ramp10)
"""
import json, re, sys

def edge_counts(path):
    txt = open(path).read()
    def hist(name):
        le = {m.group(1): int(m.group(2)) for m in re.finditer(r'^%s_bucket\{[^}]*le="([^"]+)"\} (\d+)' % name, txt, re.M)}
        n = int(re.search(r'^%s_count\{[^}]*\} (\d+)' % name, txt, re.M).group(1))
        return n, le
    fn, fle = hist('siq_fsync_seconds')
    an, ale = hist('siq_ack_seconds')
    return fn - fle['0.1'], an - ale['0.025'], an - ale['0.1'], an

print('| run | connect p99 | ack p99 | detection p99 | loadgen send lag p99 / max | loadgen loop lag max | edge: fsyncs > 100 ms | edge: acks > 25 ms / > 100 ms |')
print('|---|---|---|---|---|---|---|---|')
for d in sys.argv[1:]:
    r = json.load(open(d + '/report.json'))
    l = r['latency_ms']
    lag = r.get('loadgen_lag_ms')
    f100, a25, a100, an = edge_counts(d + '/metrics.txt')
    send = '%.1f / %.1f' % (lag['send']['p99'], lag['send']['max']) if lag else '—'
    loop = '%.1f' % lag['loop']['max'] if lag else '—'
    print('| %s | %.1f | %.1f | %.1f | %s | %s | %d | %d / %d |' % (d.rstrip('/').split('/')[-1], l['connect']['p99'], l['ack']['p99'], l['detection']['p99'], send, loop, f100, a25, a100))
