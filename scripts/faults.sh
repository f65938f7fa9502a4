#!/usr/bin/env bash
# The fault matrix at full scale (tests/system/tests/faults.rs with SIQ_FAULTS=full) against the
# release binaries, recorded under bench/runs/<date>-<host>/faults/<label>/: the test output,
# every row's figures (faults.jsonl, one FAULTS line each) and the commit.
#
#   scripts/faults.sh [LABEL] [BIN_DIR] [FILTER]
#
# LABEL names the record (default: the commit). BIN_DIR runs the rows against other binaries
# (an older build's target/release, for before/after figures); default (or empty): this tree's
# release build. FILTER runs only the rows whose test names hold it (e.g. `disk`), as
# `cargo test` filters.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
LABEL="${1:-$(git rev-parse --short HEAD)}"
BIN="${2:-}"
FILTER="${3:-}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"
if [ -z "$BIN" ]; then
  "$CARGO" build --release --locked -p sentientiq-edge -p sentientiq-loadgen -p sentientiq-lake \
    -p sentientiq-control
  BIN="$(cd "$CARGO_TARGET_DIR/release" && pwd)"
fi
# The test harness itself is the debug one `make test` builds (same flags: nothing twice).
"$CARGO" build --workspace --all-targets --all-features --locked
TEST=$(ls -t "$CARGO_TARGET_DIR"/debug/deps/faults-* | grep -v '\.d$' | head -n 1)
OUT="bench/runs/$(date -u +%F)-$(hostname)/faults/$LABEL"
mkdir -p "$OUT"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
echo "faults: $TEST against $BIN -> $OUT"
set +e
( cd tests/system && SIQ_FAULTS=full SIQ_BIN_DIR="$BIN" "$TEST" ${FILTER:+"$FILTER"} --nocapture --test-threads 1 ) \
  2>&1 | tee "$OUT/output.txt"
status=${PIPESTATUS[0]}
set -e
grep -o 'FAULTS {.*' "$OUT/output.txt" | sed 's/^FAULTS //' > "$OUT/faults.jsonl" || true
{
  echo "commit: $(git rev-parse HEAD)"
  echo "binaries: $BIN"
  echo "filter: ${FILTER:-none}"
  echo "host: $(hostname), $(nproc) cores"
  echo "exit: $status"
} > "$OUT/about.txt"
echo "faults: $(wc -l < "$OUT/faults.jsonl") rows recorded in $OUT (exit $status)"
exit "$status"
