#!/usr/bin/env bash
# `make demo`: three regional edges on local ports (us-east-1, us-west-2, eu-west-1), the loadgen
# with ~1000 human-like sessions of known ground truth spread over them for ~30 s, then the
# summary, the Parquet lake files with row counts, and a clean shutdown (SIGTERM).
# State goes under demo-data/ (git-ignored; wiped at each run).
# Environment: DEMO_SESSIONS (1000), DEMO_DURATION (30s), DEMO_SEED (1), CARGO.
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
SESSIONS="${DEMO_SESSIONS:-1000}"
DURATION="${DEMO_DURATION:-30s}"
SEED="${DEMO_SEED:-1}"
DATA=demo-data
REGIONS=(us-east-1 us-west-2 eu-west-1)
PORTS=(7411 7412 7413)

echo "demo: building release binaries (the first build compiles RocksDB: ~30 min on 2 cores)"
"$CARGO" build --release --locked -p sentientiq-edge -p sentientiq-loadgen -p sentientiq-lake
BIN="${CARGO_TARGET_DIR:-target}/release"

rm -rf "$DATA"
mkdir -p "$DATA"
pids=()
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap stop EXIT

for i in 0 1 2; do
  r=${REGIONS[$i]}
  port=${PORTS[$i]}
  mkdir -p "$DATA/$r"
  # The example config with this region's id, port and directories; one shard each (three
  # edges and the loadgen share this machine), lake files sealed every 2 s so they show.
  sed -e "s|^id = \"edge-local-1\"|id = \"edge-$r\"|" \
      -e "s|^region = \"us-east-1\"|region = \"$r\"|" \
      -e "s|^listen = \"127.0.0.1:7400\"|listen = \"127.0.0.1:$port\"|" \
      -e "s|^shards = 0 |shards = 1 |" \
      -e "s|^data_dir = \"data/edge\"|data_dir = \"$DATA/$r/edge\"|" \
      -e "s|^dir = \"data/lake\"|dir = \"$DATA/$r/lake\"|" \
      -e "s|^max_age_s = 60 |max_age_s = 2 |" \
      -e "s|^poll_ms = 1000|poll_ms = 500|" \
      deploy/edge.example.toml > "$DATA/$r/edge.toml"
  RUST_LOG=warn "$BIN/sentientiq-edge" --config "$DATA/$r/edge.toml" 2> "$DATA/$r/edge.log" &
  pids+=($!)
done

# Ready when /readyz answers 200.
for port in "${PORTS[@]}"; do
  for _ in $(seq 1 300); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET /readyz HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n' >&3
      if head -c 12 <&3 | grep -q 200; then exec 3>&-; continue 2; fi
      exec 3>&-
    fi
    sleep 0.1
  done
  echo "demo: the edge on port $port did not become ready; see $DATA/*/edge.log" >&2
  exit 1
done
echo "demo: edges ready: ${REGIONS[*]} on ports ${PORTS[*]}"

args=()
for port in "${PORTS[@]}"; do args+=(--edge "ws://127.0.0.1:$port/v1/ws"); done
"$BIN/sentientiq-loadgen" "${args[@]}" --sessions "$SESSIONS" --duration "$DURATION" \
  --ramp 5s --seed "$SEED" --report "$DATA/loadgen.json"

# Let the last spool segments seal and ship, then stop the edges cleanly.
sleep 4
stop
trap - EXIT
pids=()
echo
echo "lake (Parquet files written by each region's edge):"
for r in "${REGIONS[@]}"; do
  echo "== $r"
  "$BIN/sentientiq-lake-ls" --totals "$DATA/$r/lake"
done
echo
echo "demo: report in $DATA/loadgen.json; edge logs in $DATA/<region>/edge.log"
echo "demo: EVI per region and global: the edges do not report their windows to the control plane yet"
