#!/usr/bin/env python3
"""The edge's own acks over 5, 10, 15, 20, 25 ms (siq_ack_seconds) per record, as counts and shares."""
import re, sys
for d in sys.argv[1:]:
    m = open(d + "/metrics.txt").read()
    b = {float(le) if le != "+Inf" else float("inf"): int(n) for le, n in re.findall(r'^siq_ack_seconds_bucket\{[^}]*le="([^"]+)"\} (\d+)', m, re.M)}
    total = b[float("inf")]
    cells = []
    for le in (0.005, 0.01, 0.015, 0.02, 0.025):
        cells.append(f">{le*1000:g}ms {total - b[le]} ({(total - b[le]) / total:.3%})" if le in b else f">{le*1000:g}ms -")
    print(d.rstrip("/").split("/")[-1], total, " ".join(cells))
