#!/usr/bin/env bash
# Runs every cargo test of the workspace and ends with one summary line over all of them:
# "tests: N passed, M failed".
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
status=0
# --all-features: the gRPC types (feature-gated so the core never pulls tonic) and the lake's S3
# sink and test server are tested too. The system tests (tests/system) start the workspace's
# binaries, so `cargo build --all-targets` builds them first (the same flags as the tests, so
# nothing is built twice); `cargo test` alone would build only their test harnesses.
"$CARGO" build --workspace --all-targets --all-features --locked 2>&1 | tee -a "$log" || status=$?
if [ "$status" -eq 0 ]; then
  "$CARGO" test --workspace --all-targets --all-features --locked 2>&1 | tee -a "$log" || status=$?
fi
passed=$(grep -Eo '[0-9]+ passed' "$log" | awk '{s += $1} END {print s + 0}')
failed=$(grep -Eo '[0-9]+ failed' "$log" | awk '{s += $1} END {print s + 0}')
if [ "$status" -ne 0 ] && [ "$failed" -eq 0 ]; then
  failed=1 # a build failure runs no test but is a failure
fi
echo "tests: $passed passed, $failed failed"
exit "$status"
