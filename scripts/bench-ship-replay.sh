#!/usr/bin/env bash
# The lake shipper alone, on a recorded spool: its CPU per row with nothing else running, the
# same input every time (an A/B of two builds ships the same segments, and must write the same
# files). It runs the cases' edge.toml as they are: BENCH_SERVER_ARGS is not applied.
#
#   scripts/bench-ship-replay.sh record DIR BIN_DIR
#     Runs bench/cases/ws-10k-noship (its segments are never sealed during the run, so nothing is
#     shipped), stops the edge, and keeps its data directory (spool and identity store) as
#     DIR/data-edge.
#   scripts/bench-ship-replay.sh replay DIR LABEL BIN_DIR
#     Starts BIN_DIR's edge with bench/cases/ws-10k's config on a copy of DIR/data-edge and no
#     load. Its shipper ships every recorded segment at once. Once all are shipped, it writes
#     DIR/LABEL.txt: segments, rows, the shipper thread's CPU (its schedstat runtime, ns), CPU ns
#     per row, the edge's peak RSS (VmHWM: an idle edge's plus what shipping needed at its peak),
#     and a sha256 of every lake file written, so two builds can be checked to write the same
#     bytes.
#
# PERF=1 also profiles the shipper thread (`perf record -F 999 -g -t TID`) from its start to
# the last segment into DIR/perf-LABEL.data and the top symbols into DIR/perf-LABEL.txt; use
# that run's shares, not its CPU.
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=${1:?usage: scripts/bench-ship-replay.sh record DIR BIN_DIR | replay DIR LABEL BIN_DIR}
DIR=${2:?directory}
mkdir -p "$DIR"
DIR=$(cd "$DIR" && pwd)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
wait_port() {
  for _ in $(seq 1 600); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$1"; } 2>/dev/null; then exec 3>&-; return 0; fi
    sleep 0.1
  done
  echo "nothing listens on $1" >&2
  return 1
}
# The port of a case's edge (its `listen` line).
case_port() {
  sed -n 's/^listen = "127.0.0.1:\([0-9]*\)".*/\1/p' "$1/edge.toml"
}
# Starts BIN's edge in the directory $W on the config copied there; sets E to its pid.
start_edge() {
  ( cd "$W" && exec "$BIN/sentientiq-edge" --config edge.toml 2> edge.log ) &
  E=$!
}
# Stops the edge (if started) and removes $W: the exit trap of both modes.
cleanup() {
  if [ -n "${E:-}" ]; then kill -TERM "$E" 2>/dev/null || true; wait "$E" 2>/dev/null || true; fi
  rm -rf "$W"
}
metric() {
  # A metric's line is its name, its labels ({...}) and its value.
  curl -s "http://127.0.0.1:$port/metrics" | awk -v m="$1" '$1 == m || index($1, m "{") == 1 {print $NF}'
}
case "$MODE" in
  record)
    BIN=$(cd "${3:?binaries directory}" && pwd)
    CASE=bench/cases/ws-10k-noship
    [ -e "$DIR/data-edge" ] && { echo "$DIR/data-edge exists" >&2; exit 1; }
    W=$(mktemp -d)
    cp "$CASE/edge.toml" "$W/"
    port=$(case_port "$CASE")
    start_edge
    trap cleanup EXIT
    wait_port "$port"
    # shellcheck disable=SC2046
    "$BIN/sentientiq-loadgen" $(cat "$CASE/loadgen.args") --report "$DIR/record-report.json" \
      > "$DIR/record-summary.txt" 2>&1
    shipped=$(metric siq_lake_segments_shipped_total)
    kill -TERM "$E"; wait "$E" || true
    trap - EXIT
    [ "${shipped:-0}" = 0 ] || { echo "the edge shipped $shipped segments while recording" >&2; exit 1; }
    mv "$W/data/edge" "$DIR/data-edge"
    rm -rf "$W"
    find "$DIR/data-edge/spool" -name '[0-9]*.seg' -printf '%p %s\n' | sort > "$DIR/segments.txt"
    cat "$DIR/segments.txt"
    ;;
  replay)
    LABEL=${3:?label}
    BIN=$(cd "${4:?binaries directory}" && pwd)
    CASE=bench/cases/ws-10k
    [ -d "$DIR/data-edge" ] || { echo "no $DIR/data-edge: record first" >&2; exit 1; }
    # Segments only: records of unknown kinds are kept as `unknown-<first>.seg`.
    segs=$(find "$DIR/data-edge/spool" -name '[0-9]*.seg' | wc -l)
    W=$(mktemp -d)
    trap cleanup EXIT
    cp "$CASE/edge.toml" "$W/"
    mkdir -p "$W/data"
    cp -a "$DIR/data-edge" "$W/data/edge"
    scripts/bench-settle.sh
    port=$(case_port "$CASE")
    t0=$(date +%s.%N)
    start_edge
    tid=
    for _ in $(seq 1 300); do
      for t in /proc/"$E"/task/*; do
        [ "$(cat "$t/comm" 2>/dev/null)" = lake-shipper ] && tid=${t##*/}
      done
      [ -n "$tid" ] && break
      sleep 0.05
    done
    [ -n "$tid" ] || { echo "no lake-shipper thread" >&2; exit 1; }
    P=
    if [ -n "${PERF:-}" ]; then
      perf record -F 999 -g -t "$tid" -o "$DIR/perf-$LABEL.data" > /dev/null 2>&1 &
      P=$!
    fi
    wait_port "$port"
    for _ in $(seq 1 1200); do
      [ "$(metric siq_lake_segments_shipped_total)" -ge "$segs" ] 2>/dev/null && break
      sleep 0.5
    done
    t1=$(date +%s.%N)
    ns=$(awk '{print $1}' "/proc/$E/task/$tid/schedstat")
    # The edge's peak resident memory: an idle edge's plus what shipping needed at its peak.
    hwm=$(awk '/VmHWM/ {print $2}' "/proc/$E/status")
    rows=$(metric siq_lake_rows_total)
    done_segs=$(metric siq_lake_segments_shipped_total)
    errors=$(metric siq_lake_errors_total)
    if [ -n "$P" ]; then
      kill -INT "$P"; wait "$P" || true
      # Flat (`-g none`): with call chains, the first 40 lines hold only a few symbols.
      # Whole, then cut: `head` closing the pipe early would fail it (pipefail) and end the run.
      perf report -i "$DIR/perf-$LABEL.data" --no-children --sort symbol -g none \
        > "$W/perf-report.txt" 2>/dev/null
      grep -v "^#" "$W/perf-report.txt" | grep -v "^$" | sed 's/ *$//' | sed -n 1,30p \
        > "$DIR/perf-$LABEL.txt"
    fi
    kill -TERM "$E"; wait "$E" || true
    [ "$done_segs" -ge "$segs" ] || { echo "shipped $done_segs of $segs segments" >&2; exit 1; }
    {
      echo "label: $LABEL"
      echo "binaries: $BIN"
      echo "date: $(date -u +%FT%TZ)"
      echo "segments: $done_segs"
      echo "rows: $rows"
      echo "lake_errors: ${errors:-0}"
      echo "shipper_cpu_ns: $ns"
      echo "shipper_ns_per_row: $(awk -v n="$ns" -v r="$rows" 'BEGIN {printf "%.1f", n / r}')"
      echo "edge_rss_peak_kb: $hwm"
      echo "wall_s: $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')"
      if [ -n "${PERF:-}" ]; then echo "perf: yes (its CPU includes the cost of profiling)"; else echo "perf: no"; fi
      echo "lake files (sha256, path under data/lake):"
      (cd "$W/data/lake" && find . -type f | sort | xargs sha256sum)
    } > "$DIR/$LABEL.txt"
    grep -v "^[0-9a-f]\{64\} " "$DIR/$LABEL.txt"
    ;;
  *) echo "record or replay, not $MODE" >&2; exit 1 ;;
esac
