#!/usr/bin/env bash
# Runs one benchmark case (bench/cases/NAME) with the release binaries, edge and loadgen on this
# machine, and records it under bench/runs/<date>-<host>/NAME/: the loadgen's summary and report,
# the edge's /metrics at the end, run.txt (CPU, peak RSS, and the sampled peaks of its anonymous
# and file parts) and rss.txt (the server's memory by kind every 0.5 s).
set -euo pipefail
cd "$(dirname "$0")/.."
NAME="${1:?usage: scripts/bench-case.sh NAME}"
CASE="bench/cases/$NAME"
[ -f "$CASE/edge.toml" ] && [ -f "$CASE/loadgen.args" ] || { echo "no case $CASE" >&2; exit 1; }
CARGO="${CARGO:-cargo}"
# The same packages as `make demo` builds, so both share one feature set (one RocksDB build).
# BENCH_BIN=DIR runs other binaries (e.g. an older commit's release build, for before/after
# figures on the same day and machine) and BENCH_LABEL names the record (default NAME).
# BENCH_SERVER=baseline serves the case with `sentientiq-baseline` (bench/src/bin/baseline.rs,
# the plain tokio design the edge is judged against) instead of the edge, on the case's port;
# BENCH_SERVER=floor serves it with `sentientiq-baseline --floor`, which acks each frame at once
# and does no other work (tokio's transport cost per frame), and BENCH_SERVER=floor-glommio with
# `sentientiq-floor-glommio` (bench/src/bin/floor_glommio.rs, the same on the edge's glommio), and
# BENCH_SERVER=floor-uring with `sentientiq-floor-uring` (bench/src/bin/floor_uring.rs, the same
# on bare io_uring with no runtime: the least a frame costs on this machine).
# BENCH_SERVER_ARGS="..." adds to a comparison server's arguments (e.g. --batch-us 1000 for
# floor-uring, or "--spool data/floor" for floor-uring with the edge's durable group commit and
# nothing else: the durable floor); for the edge it is `[edge]` settings written KEY=VALUE with no spaces (e.g.
# wait_gather_us=0), each added to the case's edge.toml under `[edge]` (a string value keeps its
# TOML quotes; one the case already sets replaces the case's line; `listen` and `data_dir`
# cannot be changed: scripts/edge-settings.py).
# BENCH_SESSIONS=N replaces the case's `--sessions`. BENCH_SERVER_CPUS / BENCH_LOADGEN_CPUS
# (taskset lists, e.g. 0 and 1) pin the server and the loadgen to separate cores.
# BENCH_DATA_TMPFS=SIZE (e.g. 4g; needs root) mounts a tmpfs of that size on the run's `data/`
# (the cases keep the spool, the identity store and the lake there): a diagnostic that takes
# the disk out, so nothing the edge acks is durable; it measures what the CPU can do when
# a synchronous write costs nothing. Its records say so in run.txt.
# BENCH_LOADGEN_ARGS="..." adds to the case's loadgen arguments (e.g. --source-ips 4).
# BENCH_LOADGEN_NICE=N runs the loadgen at that nice value (e.g. -10): on a shared machine its
# sends wake the server's threads, which can preempt it and make it late; its summary's
# `loadgen send lag` line says how late it was (see bench/runs/2026-12-03-vm/README.md).
# BENCH_SERVER_NICE=N runs the server at that nice value.
# run.txt's `others_cpu_s` and `others_top` say how much CPU everything else on the machine took
# during the run. On the sandbox VMs the bench records come from, a process outside the bench
# (the VM's agent, `process_api`, at nice -10) holds a CPU for about 4 ms once a second and, with
# tens of thousands of TCP sockets open, for 10-27 ms about every 3 s: reads wait behind it, and
# at 14 000 sessions those waits are the loadgen's ack tail (bench/runs/2026-12-06-vm/README.md,
# "Thirty-third session"; scripts/bench-trace.sh shows them). The edge and the loadgen at nice
# -15 did not shorten them there.
if [ -n "${BENCH_BIN:-}" ]; then
  BIN="$(cd "$BENCH_BIN" && pwd)"
else
  "$CARGO" build --release --locked -p sentientiq-edge -p sentientiq-loadgen -p sentientiq-lake \
    -p sentientiq-control -p sentientiq-bench
  BIN="$(cd "${CARGO_TARGET_DIR:-target}/release" && pwd)"
fi
# Flush a fresh build's dirty pages first: the edge's synchronous spool writes would queue behind them.
sync
# BENCH_DAY (YYYY-MM-DD) names the record's day; the series scripts set it once, so runs that
# cross midnight stay in one folder.
OUT="bench/runs/${BENCH_DAY:-$(date -u +%F)}-$(hostname)/${BENCH_LABEL:-$NAME}"
mkdir -p "$OUT"
OUT="$(cd "$OUT" && pwd)"
WORK="$(mktemp -d)"
cp "$CASE/edge.toml" "$WORK/"
if [ "${BENCH_SERVER:-edge}" = edge ]; then
  # shellcheck disable=SC2086
  scripts/edge-settings.py "$WORK/edge.toml" ${BENCH_SERVER_ARGS:-} || { rm -rf "$WORK"; exit 1; }
fi
if [ -n "${BENCH_DATA_TMPFS:-}" ]; then
  mkdir -p "$WORK/data"
  mount -t tmpfs -o "size=$BENCH_DATA_TMPFS" tmpfs "$WORK/data" || { rm -rf "$WORK"; exit 1; }
fi
port=$(sed -n 's/^listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$CASE/edge.toml")
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
SERVER="${BENCH_SERVER:-edge}"
pin_server=(); pin_loadgen=()
[ -n "${BENCH_SERVER_CPUS:-}" ] && pin_server=(taskset -c "$BENCH_SERVER_CPUS")
[ -n "${BENCH_LOADGEN_CPUS:-}" ] && pin_loadgen=(taskset -c "$BENCH_LOADGEN_CPUS")
[ -n "${BENCH_LOADGEN_NICE:-}" ] && pin_loadgen+=(nice -n "$BENCH_LOADGEN_NICE")
[ -n "${BENCH_SERVER_NICE:-}" ] && pin_server+=(nice -n "$BENCH_SERVER_NICE")
sargs=${BENCH_SERVER_ARGS:-}
# shellcheck disable=SC2086 # $sargs is split into arguments on purpose
case "$SERVER" in
  edge) ( cd "$WORK" && exec "${pin_server[@]}" "$BIN/sentientiq-edge" --config edge.toml 2> edge.log ) & ;;
  baseline) ( cd "$WORK" && exec "${pin_server[@]}" "$BIN/sentientiq-baseline" \
                --listen "127.0.0.1:$port" --data data/baseline $sargs 2> baseline.log ) & ;;
  floor) ( cd "$WORK" && exec "${pin_server[@]}" "$BIN/sentientiq-baseline" \
                --listen "127.0.0.1:$port" --data data/baseline --floor $sargs 2> baseline.log ) & ;;
  floor-glommio) ( cd "$WORK" && exec "${pin_server[@]}" "$BIN/sentientiq-floor-glommio" \
                --listen "127.0.0.1:$port" $sargs 2> floor.log ) & ;;
  floor-uring) ( cd "$WORK" && exec "${pin_server[@]}" "$BIN/sentientiq-floor-uring" \
                --listen "127.0.0.1:$port" $sargs 2> floor.log ) & ;;
  *) echo "BENCH_SERVER is edge, baseline, floor, floor-glommio or floor-uring, not $SERVER" >&2; exit 1 ;;
esac
edge=$!
trap 'kill -TERM $edge 2>/dev/null || true; wait $edge 2>/dev/null || true
      [ -n "${BENCH_DATA_TMPFS:-}" ] && umount "$WORK/data"; rm -rf "$WORK"' EXIT
for _ in $(seq 1 300); do
  if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then exec 3>&-; break; fi
  sleep 0.1
done
# QUIC cases pin the edge's certificate: made at its first start under its data_dir.
pin="$WORK/data/edge/quic/cert.sha256"
if grep -q '@QUIC_PIN@' "$CASE/loadgen.args"; then
  for _ in $(seq 1 100); do [ -s "$pin" ] && break; sleep 0.1; done
  sleep 0.5 # every shard's UDP socket bound
fi
# The server's resident memory by kind every 0.5 s until it is stopped below (rss.txt: seconds,
# VmRSS, RssAnon, RssFile in kB): its own heap and stacks (anonymous) apart from the mapped pages
# of its binary and libraries (file), which move by up to 3 MB between builds of the same code
# with the linker's layout (bench/runs/2026-12-05-vm/README.md, "Thirtieth session"). Builtins
# only, but for `sleep`: the sampler shares the machine with the run.
rss_sample() {
  local t0=${EPOCHREALTIME/./} now k v _ vm anon file
  while :; do
    vm='' anon='' file=''
    { while read -r k v _; do
        case $k in VmRSS:) vm=$v ;; RssAnon:) anon=$v ;; RssFile:) file=$v ;; esac
      done < "/proc/$1/status"; } 2>/dev/null
    # Only the server's end ends the samples: a read that fails while it runs is skipped (one
    # run of 2026-12-06 lost 65 of its 70 s of samples to a single one and reported its
    # first 4.5 s as its peak).
    [ -e "/proc/$1" ] || return 0
    if [ -n "$vm" ] && [ -n "$anon" ] && [ -n "$file" ]; then
      now=$(( (${EPOCHREALTIME/./} - t0) / 100000 ))
      echo "$(( now / 10 )).$(( now % 10 )) $vm $anon $file"
    fi
    sleep 0.5
  done
}
rss_sample "$edge" > "$OUT/rss.txt" &
sampler=$!
args=$(sed "s|@QUIC_PIN@|$pin|g" "$CASE/loadgen.args")
[ -n "${BENCH_SESSIONS:-}" ] && args=$(sed -E "s/--sessions [0-9]+/--sessions $BENCH_SESSIONS/" <<< "$args")
[ -n "${BENCH_LOADGEN_ARGS:-}" ] && args="$args $BENCH_LOADGEN_ARGS"
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
# CPU seconds of this script's reaped children (the loadgen, once it exited; the edge is still
# running, so it is not in them).
# (`times` must run in this shell, not in a $(...) subshell, to see them.)
children_cpu() { tail -1 "$1" | awk '{ for (i = 1; i <= 2; i++) { split($i, p, "m"); sub("s", "", p[2]); s += p[1] * 60 + p[2] } printf "%.2f", s }'; }
# Every process's CPU ticks (utime + stime, its threads' included) by pid and name, to tell what
# else ran on the machine during the run.
proc_ticks() {
  python3 -c '
import os
for pid in os.listdir("/proc"):
    if pid.isdigit():
        try:
            s = open("/proc/%s/stat" % pid).read()
        except OSError:
            continue
        name, rest = s[s.index("(") + 1 : s.rindex(")")], s[s.rindex(")") + 2 :].split()
        print(pid, int(rest[11]) + int(rest[12]), name.replace(" ", "_"))'
}
proc_ticks > "$WORK/procs0"
times > "$WORK/times0"
e0=$(ticks "$edge")
# shellcheck disable=SC2086
"${pin_loadgen[@]}" "$BIN/sentientiq-loadgen" $args --report "$OUT/report.json" \
  2> >(tee "$OUT/progress.txt" >&2) | tee "$OUT/summary.txt"
e1=$(ticks "$edge")
times > "$WORK/times1"
proc_ticks > "$WORK/procs1"
# The edge's own view (siq_ack_seconds: frame received -> ack released), for telling its
# latency apart from the loadgen's queueing on a shared machine.
[ "$SERVER" = edge ] && { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null && {
  printf 'GET /metrics HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n' >&3
  cat <&3 > "$OUT/metrics.txt"
  exec 3>&-
}
rss_peak=$(awk '/VmHWM/ {print $2 " kB"}' "/proc/$edge/status")
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
# The sampled peaks of each kind (VmHWM above is the kernel's exact peak of their sum).
rss_kind_peaks=$(awk 'NF == 4 { if ($3 > a) a = $3; if ($4 > f) f = $4 }
                      END { printf "%d kB %d kB", a, f }' "$OUT/rss.txt")
{
  echo "case: $NAME"
  echo "server: $SERVER${BENCH_SERVER_ARGS:+ $BENCH_SERVER_ARGS}${BENCH_SERVER_CPUS:+ (cpus $BENCH_SERVER_CPUS)}${BENCH_SERVER_NICE:+ (nice $BENCH_SERVER_NICE)}${BENCH_DATA_TMPFS:+ (data on a tmpfs: NOT durable, diagnostic)}"
  echo "date: $(date -u +%FT%TZ)"
  if [ -n "${BENCH_BIN:-}" ]; then
    echo "binaries: $BIN (not this tree's build)"
  else
    echo "commit: $(git rev-parse --short HEAD)$(git diff --quiet || echo '+dirty')"
  fi
  echo "edge_cpu_s: $(awk -v a="$e0" -v b="$e1" -v hz="$hz" 'BEGIN {printf "%.2f", (b - a) / hz}')"
  samples=$(grep -o '"samples_sent": *[0-9]*' "$OUT/report.json" | grep -o '[0-9]*$')
  echo "edge_cpu_s_per_million_samples: $(awk -v a="$e0" -v b="$e1" -v hz="$hz" -v n="$samples" 'BEGIN {printf "%.3f", (b - a) / hz / n * 1e6}')"
  echo "edge_rss_peak: $rss_peak"
  echo "edge_rss_anon_peak: ${rss_kind_peaks% * kB}"
  echo "edge_rss_file_peak: ${rss_kind_peaks#* kB }"
  # How much of the run those peaks cover: samples, and the last one's second.
  echo "edge_rss_samples: $(awk 'NF == 4 { n++; t = $1 } END { printf "%d to %.1f s", n, t }' "$OUT/rss.txt")"
  echo "loadgen_cpu_s: $(awk -v a="$(children_cpu "$WORK/times0")" -v b="$(children_cpu "$WORK/times1")" 'BEGIN {printf "%.2f", b - a}')"
  # Everything but the server and this script, over the loadgen's run: the loadgen has exited
  # and is not listed; the memory sampler is (a few ms); a process that started during the run
  # counts from zero and one that ended during it is missing.
  awk -v hz="$hz" -v server="$edge" -v me="$$" '
    FNR == NR { t0[$1] = $2; next }
    $1 != server && $1 != me { d = $2 - t0[$1]; if (d > 0) { cpu[$3] += d; all += d } }
    END { printf "others_cpu_s: %.2f\n", all / hz; n = 0
          printf "others_top:"
          while (n < 3) { best = ""; for (k in cpu) if (best == "" || cpu[k] > cpu[best]) best = k
                          if (best == "") break; printf " %s %.2f s", best, cpu[best] / hz; delete cpu[best]; n++ }
          printf "\n" }' "$WORK/procs0" "$WORK/procs1"
  echo "edge_samples_per_core_s_at_saturation: $(awk -v a="$e0" -v b="$e1" -v hz="$hz" -v n="$samples" 'BEGIN {printf "%.0f", n / ((b - a) / hz)}')"
  # Upper bounds from the cumulative buckets: the smallest `le` holding the quantile.
  for pq in 50:0.5 99:0.99; do
    q=${pq#*:}
    echo "edge_ack_p${pq%%:*}_ms_at_most: $(awk -v q="$q" '
      /^siq_ack_seconds_bucket/ { match($0, /le="[^"]*"/); le = substr($0, RSTART + 4, RLENGTH - 5);
                                  n++; les[n] = le; cnt[n] = $NF }
      /^siq_ack_seconds_count/ { total = $NF }
      END { for (i = 1; i <= n; i++) if (total > 0 && cnt[i] >= q * total) {
              if (les[i] == "+Inf") print "over 5000"; else print les[i] * 1000; exit } }
    ' "$OUT/metrics.txt" 2>/dev/null)"
  done
  echo "loadgen: $args${BENCH_LOADGEN_CPUS:+ (cpus $BENCH_LOADGEN_CPUS)}${BENCH_LOADGEN_NICE:+ (nice $BENCH_LOADGEN_NICE)}"
  echo "cpus: $(nproc)"
  echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')"
  echo "memory: $(grep MemTotal /proc/meminfo | awk '{print $2 " kB"}')"
  echo "kernel: $(uname -r)"
} > "$OUT/run.txt"
# A comparison server's log is a few lines (how it started; floor-uring with --batch-want adds
# a line for each switch of its waits): kept with the record. The edge's is not (it can be large):
# only its lines about gathering completions are.
for f in floor.log baseline.log; do
  if [ -f "$WORK/$f" ]; then cp "$WORK/$f" "$OUT/server.log"; fi
done
if [ -f "$WORK/edge.log" ]; then grep -a "gather" "$WORK/edge.log" > "$OUT/server.log" || true; fi
cp "$WORK/edge.toml" "$CASE/loadgen.args" "$OUT/"
cat "$OUT/run.txt"
