#!/usr/bin/env python3
"""One markdown table row per bench record (a directory scripts/bench-case.sh wrote).

    scripts/bench-row.py [--header] [--slo MS] [--tail] RECORD_DIR...

Columns: the record, the server (edge or baseline), sessions, frames acked per second while
every session was connected (from the loadgen's cumulative progress lines, ramp + 5 s to
duration - 5 s), the server's CPU per frame (all its threads, over the whole run), ack p50/p99
and detection p99 at the loadgen, the server's and the loadgen's CPU as a share of one core
(over the whole run, ramp included), the server's peak RSS and its sampled peak of anonymous
memory (heap and stacks, without the mapped pages of its binary: "-" in records made before
bench-case.sh sampled it), and errors. With --slo, a last
column says whether ack p99 was within it with every frame acked and no error. With --tail,
columns that tell a tail's source apart (bench/runs/2026-12-03-vm/README.md): connect p99, the
loadgen's own send lag (p99 / max) and loop lag (max), and from the edge's /metrics at the end
of the run its spool commits over 100 ms (siq_fsync_seconds: the synchronous write; a write and
an fdatasync before 5718589), its acks over 25 and 100 ms (frame read -> ack released) and its
spool commits over 25 ms ("-" where the record has no such figure: an older loadgen, or not the
edge).
"""
import json
import os
import re
import sys


def over(metrics, name, le):
    """How many observations of the histogram `name` in a /metrics dump exceeded bucket `le`."""
    buckets = dict(re.findall(r'^%s_bucket\{[^}]*le="([^"]+)"\} (\d+)' % name, metrics, re.M))
    count = re.search(r"^%s_count\{[^}]*\} (\d+)" % name, metrics, re.M)
    if not count or le not in buckets:
        return None
    return int(count.group(1)) - int(buckets[le])


def tail_cells(d, rep):
    lag = rep.get("loadgen_lag_ms") or {}
    send, loop = lag.get("send"), lag.get("loop")
    path = f"{d}/metrics.txt"
    m = open(path).read() if os.path.exists(path) else ""
    n = lambda v: "-" if v is None else str(v)
    return [
        f"{rep['latency_ms']['connect']['p99']:.1f}",
        f"{send['p99']:.1f} / {send['max']:.1f}" if send else "-",
        f"{loop['max']:.1f}" if loop else "-",
        n(over(m, "siq_fsync_seconds", "0.1")),
        f"{n(over(m, 'siq_ack_seconds', '0.025'))} / {n(over(m, 'siq_ack_seconds', '0.1'))}",
        n(over(m, "siq_fsync_seconds", "0.025")),
    ]


def row(d, slo, tail=False):
    rep = json.load(open(f"{d}/report.json"))
    run = dict(
        line.split(": ", 1) for line in open(f"{d}/run.txt").read().splitlines() if ": " in line
    )
    args = run["loadgen"]
    dur = int(re.search(r"--duration (\d+)s", args).group(1))
    ramp = int(re.search(r"--ramp (\d+)s", args).group(1))
    acked = {}
    # The loadgen's progress lines (its stderr): the record's progress.txt, or the log beside
    # the record that the batch scripts write.
    progress = next((p for p in (f"{d}/progress.txt", f"{d.rstrip('/')}.log") if os.path.exists(p)), None)
    for line in open(progress) if progress else []:
        m = re.match(r"\s*(\d+)s\s+sessions.*?(\d+) acked", line)
        if m:
            acked[int(m.group(1))] = int(m.group(2))
    a, b = ramp + 5, dur - 5
    rate = (acked[b] - acked[a]) / (b - a) if a in acked and b in acked and b > a else float("nan")
    lat = rep["latency_ms"]
    wall = rep["duration_s"]
    cpu = float(run["edge_cpu_s"])
    frames = rep["acked"]
    errors = sum(rep["errors"].values()) if isinstance(rep["errors"], dict) else rep["errors"]
    cells = [
        d.rstrip("/").split("/")[-1],
        run.get("server", "edge").split(" ")[0],
        str(rep["sessions"]),
        f"{rate:.0f}" if rate == rate else "-",
        f"{cpu / frames * 1e6:.1f}" if frames else "-",
        f"{lat['ack']['p50']:.2f} / {lat['ack']['p99']:.2f}",
        f"{lat['detection']['p99']:.2f}" if lat.get("detection") else "-",
        f"{cpu / wall:.2f}",
        f"{float(run['loadgen_cpu_s']) / wall:.2f}",
        run["edge_rss_peak"],
        run.get("edge_rss_anon_peak", "-"),
        str(errors),
    ]
    if tail:
        cells += tail_cells(d, rep)
    if slo is not None:
        ok = lat["ack"]["p99"] <= slo and errors == 0 and rep["acked"] == rep["frames_sent"]
        cells.append("yes" if ok else "no")
    return "| " + " | ".join(cells) + " |"


def main():
    argv = sys.argv[1:]
    header = "--header" in argv
    tail = "--tail" in argv
    argv = [a for a in argv if a not in ("--header", "--tail")]
    slo = None
    if "--slo" in argv:
        i = argv.index("--slo")
        slo = float(argv[i + 1])
        del argv[i : i + 2]
    if header:
        cols = [
            "record",
            "server",
            "sessions",
            "frames/s at full load",
            "server CPU µs per frame",
            "ack p50 / p99 ms",
            "detection p99 ms",
            "server CPU, cores",
            "loadgen CPU, cores",
            "server RSS peak",
            "server anonymous memory peak",
            "errors",
        ]
        if tail:
            cols += [
                "connect p99 ms",
                "loadgen send lag p99 / max ms",
                "loadgen loop lag max ms",
                "edge commits > 100 ms",
                "edge acks > 25 / > 100 ms",
                "edge commits > 25 ms",
            ]
        if slo is not None:
            cols.append(f"ack p99 <= {slo:g} ms")
        print("| " + " | ".join(cols) + " |")
        print("|" + "---|" * len(cols))
    for d in argv:
        if not os.path.exists(f"{d}/report.json"):
            print(f"bench-row.py: {d} is not a bench record (no report.json); skipped", file=sys.stderr)
            continue
        print(row(d, slo, tail))


if __name__ == "__main__":
    main()
