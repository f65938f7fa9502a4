#!/usr/bin/env python3
"""Shipper ns per row of each label's replays (LABEL-N.txt or LABELN.txt beside this file), and how many
distinct sets of lake files all of them wrote (1: every replay wrote the same bytes).

    python3 absum.py LABEL...
"""
import os
import re
import statistics
import sys

here = os.path.dirname(os.path.abspath(__file__))
files = set()
for lab in sys.argv[1:]:
    v = []
    names = [f for f in os.listdir(here) if re.fullmatch(re.escape(lab) + r"-?\d+\.txt", f)]
    for f in sorted(os.path.join(here, n) for n in names):
        t = open(f).read()
        v.append(float(re.search(r"shipper_ns_per_row: ([\d.]+)", t).group(1)))
        files.add(t.split("lake files")[1])
    if not v:
        print(f"{lab}: no replays named {lab}-N.txt or {lab}N.txt")
        continue
    print(f"{lab}: n {len(v)} mean {statistics.mean(v):.1f} median {statistics.median(v):.1f} "
          f"min {min(v):.1f} max {max(v):.1f}")
print("distinct sets of lake files over all:", len(files))
