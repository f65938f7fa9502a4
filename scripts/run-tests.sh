#!/usr/bin/env bash
# Runs every cargo test of the workspace, then the browser SDK's tests (sdk/js: unit, the dist/
# check, and the browser suite in headless Chromium against the edge and lake compaction binaries
# the cargo build just made), then the control plane's dashboard in headless Chromium
# (control-plane/web/test, against the sentientiq-control and siqctl binaries), then the bench
# scripts' own tests (scripts/tests, Python's unittest) and the vendored glommio's tests of its
# device description (vendor/README.md, change 8), and ends with one
# summary line over all of them: "tests: N passed, M failed" (then each part's counts).
#
#   scripts/run-tests.sh             everything
#   scripts/run-tests.sh --sdk-only  only the browser suites: the SDK and the dashboard (the
#                                    binaries must have been built already)
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
sdk_only=0
[ "${1:-}" = "--sdk-only" ] && sdk_only=1
log=$(mktemp)
sdklog=$(mktemp)
weblog=$(mktemp)
pylog=$(mktemp)
vglog=$(mktemp)
skips=$(mktemp)
export SIQ_TEST_SKIPS="$skips"
vgdir=$(mktemp -d)
trap 'rm -f "$log" "$sdklog" "$weblog" "$pylog" "$vglog" "$skips"; rm -rf "$vgdir"' EXIT
status=0
build=0
rust_passed=0
rust_failed=0
if [ "$sdk_only" -eq 0 ]; then
  # --all-features: the gRPC types (feature-gated so the core never pulls tonic) and the lake's S3
  # sink and test server are tested too. The system tests (tests/system) start the workspace's
  # binaries, so `cargo build --all-targets` builds them first (the same flags as the tests, so
  # nothing is built twice); `cargo test` alone would build only their test harnesses.
  "$CARGO" build --workspace --all-targets --all-features --locked 2>&1 | tee -a "$log" || build=$?
  status=$build
  if [ "$build" -eq 0 ]; then
    "$CARGO" test --workspace --all-targets --all-features --locked --no-fail-fast 2>&1 | tee -a "$log" || status=$?
  fi
  rust_passed=$({ grep -Eo '[0-9]+ passed' "$log" || true; } | awk '{s += $1} END {print s + 0}')
  rust_failed=$({ grep -Eo '[0-9]+ failed' "$log" || true; } | awk '{s += $1} END {print s + 0}')
  if [ "$status" -ne 0 ] && [ "$rust_failed" -eq 0 ]; then
    rust_failed=1 # a build failure runs no test but is a failure
  fi
fi

# The browser SDK, against the debug binaries of the build above (no second Rust build). It runs
# when that build succeeded, even if some Rust test failed: its binaries are current.
sdk_passed=0
sdk_failed=0
sdk_skipped=0
sdk_note=""
if [ "$build" -ne 0 ]; then
  sdk_note="not run: the Rust build failed"
else
  bin="${CARGO_TARGET_DIR:-target}/debug"
  sdk_status=0
  if {
    if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
      echo "sdk: node and npm are needed (make deps installs them)"
      sdk_status=1
    elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
      # 18: Debian 12's nodejs (playwright-core 1.61 and the sequential test runner need 18+).
      echo "sdk: Node $(node --version) is too old: the SDK's tools and tests need Node 18+"
      sdk_status=1
    elif [ ! -x "$bin/sentientiq-edge" ] || [ ! -x "$bin/sentientiq-lake-compact" ]; then
      echo "sdk: no sentientiq-edge / sentientiq-lake-compact in $bin (run the Rust build first)"
      sdk_status=1
    else
      bin="$(cd "$bin" && pwd)"
      export SIQ_EDGE_BIN="$bin/sentientiq-edge" SIQ_LAKE_COMPACT_BIN="$bin/sentientiq-lake-compact"
      cd sdk/js
      # The committed lockfile, once per run.
      npm ci --no-audit --no-fund || sdk_status=$?
      if [ "$sdk_status" -eq 0 ]; then
        npm test || sdk_status=$?
        # dist/ is what the sources build (the edge binary embeds it).
        if ! npm run check; then
          sdk_status=1
          printf 'dist/ is stale: npm run build\n# fail 1\n'
        fi
        # Sequential (one Chromium and up to three edges at a time): test/sequential.mjs, as
        # --test-concurrency=1 would on Node 20.10+ (Node 18 has no such flag).
        npm run test:browser || sdk_status=$?
        # The SDK as the edge serves it (built into the binary): serving, loader, strict CSP.
        SIQ_SDK_FROM=edge node test/sequential.mjs test/browser/serving.test.js test/browser/csp.test.js || sdk_status=$?
      fi
    fi
    exit "$sdk_status"
  } 2>&1 | tee "$sdklog"; then sdk_status=0; else sdk_status=$?; fi
  # Counted from node:test's TAP summaries (one per `node --test` run).
  sdk_passed=$(awk '/^# pass [0-9]+$/ {s += $3} END {print s + 0}' "$sdklog")
  sdk_failed=$(awk '/^# fail [0-9]+$/ {s += $3} END {print s + 0}' "$sdklog")
  sdk_skipped=$(awk '/^# skipped [0-9]+$/ {s += $3} END {print s + 0}' "$sdklog")
  if grep -qE '^sdk: |npm (error|ERR!)' "$sdklog" && [ "$sdk_failed" -eq 0 ]; then
    sdk_failed=1 # no test ran (tools or binaries missing, npm ci failed) but it is a failure
  fi
  [ "$sdk_status" -ne 0 ] && [ "$sdk_failed" -eq 0 ] && sdk_failed=1
  sdk_note="$sdk_passed passed, $sdk_failed failed, $sdk_skipped skipped"
fi

# The control plane's web dashboard (control-plane/web/test) in Debian's Chromium, through the
# playwright-core that sdk/js's `npm ci` installed (no package of its own), against the debug
# sentientiq-control and siqctl of the build above. Skipped, with a note, without Node 18+,
# Chromium or that playwright-core.
web_passed=0
web_failed=0
web_skipped=0
chromium="${SIQ_CHROMIUM:-/usr/bin/chromium}"
if [ "$build" -ne 0 ]; then
  web_note="not run: the Rust build failed"
elif ! command -v node >/dev/null; then
  web_note="skipped: no node (make deps installs it)"
elif [ "$(node -p 'process.versions.node.split(".")[0]')" -lt 18 ]; then
  web_note="skipped: Node $(node --version) is too old (18+)"
elif [ ! -x "$chromium" ]; then
  web_note="skipped: no Chromium at $chromium (apt-get install chromium)"
elif [ ! -f sdk/js/node_modules/playwright-core/package.json ]; then
  web_note="skipped: no sdk/js/node_modules/playwright-core (npm ci in sdk/js)"
else
  webbin="${CARGO_TARGET_DIR:-target}/debug"
  if [ ! -x "$webbin/sentientiq-control" ] || [ ! -x "$webbin/siqctl" ]; then
    echo "web: no sentientiq-control / siqctl in $webbin (run the Rust build first)" | tee "$weblog"
    web_failed=1
  else
    web_status=0
    SIQ_WEB_BIN="$(cd "$webbin" && pwd)" node --test control-plane/web/test/ 2>&1 | tee "$weblog" || web_status=$?
    web_passed=$(awk '/^# pass [0-9]+$/ {s += $3} END {print s + 0}' "$weblog")
    web_failed=$(awk '/^# fail [0-9]+$/ {s += $3} END {print s + 0}' "$weblog")
    web_skipped=$(awk '/^# skipped [0-9]+$/ {s += $3} END {print s + 0}' "$weblog")
    [ "$web_status" -ne 0 ] && [ "$web_failed" -eq 0 ] && web_failed=1
  fi
  web_note="$web_passed passed, $web_failed failed, $web_skipped skipped"
fi

# Tests that cannot run on this machine (the five tests of gathering, before Linux 6.12: io_uring
# has no min-wait) check that what they need is refused instead, count as passed, and list
# themselves in $SIQ_TEST_SKIPS (tests/kit/src/kernel.rs): this says how many, and why.
rust_note=""
rust_skipped=$(wc -l < "$skips")
if [ "$rust_skipped" -gt 0 ]; then
  rust_note=" ($rust_skipped of them skipped: $(cut -d: -f2- "$skips" | sed 's/^ //; s/ (.*//' | sort -u | paste -sd ';'))"
fi

# The bench scripts' own logic (scripts/tests: Python's unittest, the standard library only).
py_passed=0
py_failed=0
if [ "$sdk_only" -eq 0 ]; then
  py_status=0
  python3 -m unittest discover -s scripts/tests 2>&1 | tee "$pylog" || py_status=$?
  py_ran=$(sed -n 's/^Ran \([0-9]*\) tests* in .*/\1/p' "$pylog" | tail -1)
  py_failed=$({ grep -Eo '(failures|errors)=[0-9]+' "$pylog" || true; } | awk -F= '{s += $2} END {print s + 0}')
  py_passed=$((${py_ran:-0} - py_failed))
  [ "$py_status" -ne 0 ] && [ "$py_failed" -eq 0 ] && py_failed=1
  [ "$py_failed" -ne 0 ] && [ "$status" -eq 0 ] && status=1
fi

# The vendored glommio's own tests of its device description (`sys::sysfs`; vendor/README.md,
# change 8). glommio is not a workspace member, so the cargo test above cannot build its
# dev-dependencies: it is tested in a copy, with its own committed lockfile
# (vendor/glommio-tests.lock), in a target directory of its own beside the workspace's.
vg_passed=0
vg_failed=0
if [ "$sdk_only" -eq 0 ]; then
  vg_status=0
  vgtarget="$(realpath -m "${CARGO_TARGET_DIR:-target}")/vendored-glommio"
  {
    cp -r vendor/glommio "$vgdir/glommio" && cp vendor/glommio-tests.lock "$vgdir/glommio/Cargo.lock" &&
      ( cd "$vgdir/glommio" && CARGO_TARGET_DIR="$vgtarget" "$CARGO" test --locked --lib sys::sysfs )
  } 2>&1 | tee "$vglog" || vg_status=$?
  vg_passed=$({ grep -Eo '[0-9]+ passed' "$vglog" || true; } | awk '{s += $1} END {print s + 0}')
  vg_failed=$({ grep -Eo '[0-9]+ failed' "$vglog" || true; } | awk '{s += $1} END {print s + 0}')
  [ "$vg_status" -ne 0 ] && [ "$vg_failed" -eq 0 ] && vg_failed=1
  [ "$vg_failed" -ne 0 ] && [ "$status" -eq 0 ] && status=1
fi

passed=$((rust_passed + sdk_passed + web_passed + py_passed + vg_passed))
failed=$((rust_failed + sdk_failed + web_failed + py_failed + vg_failed))
[ "$sdk_failed" -ne 0 ] && [ "$status" -eq 0 ] && status=1
[ "$web_failed" -ne 0 ] && [ "$status" -eq 0 ] && status=1
echo
if [ "$sdk_only" -eq 0 ]; then
  echo "  rust (cargo test): $rust_passed passed, $rust_failed failed$rust_note"
fi
echo "  browser SDK (sdk/js: unit, dist/ check, Chromium): $sdk_note"
echo "  dashboard (control-plane/web, Chromium): $web_note"
if [ "$sdk_only" -eq 0 ]; then
  echo "  bench scripts (scripts/tests, Python unittest): $py_passed passed, $py_failed failed"
  echo "  vendored glommio (sys::sysfs, its own lockfile): $vg_passed passed, $vg_failed failed"
fi
echo "tests: $passed passed, $failed failed"
exit "$status"
