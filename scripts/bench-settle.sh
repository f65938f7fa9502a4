#!/usr/bin/env bash
# Waits until a bench run may start: the previous run's dirty pages written out (`sync`) and the
# 1-minute load average under BENCH_SETTLE_LOAD (default 1.0), so a run does not begin on the
# tail of a build or of the run before it. Every A/B and step script calls it before each run.
set -euo pipefail
limit=${BENCH_SETTLE_LOAD:-1.0}
sync
while awk -v l="$limit" '{exit !($1 >= l)}' /proc/loadavg; do sleep 5; done
