#!/usr/bin/env bash
# `make demo`: the control plane with a demo tenant and its account directory, three regional
# edges following it on local ports (us-east-1, us-west-2, eu-west-1), the loadgen with ~1000
# human-like sessions of known ground truth spread over them for ~30 s, then the summary, EVI
# per region and global, the escalations paged to local receivers (a signed webhook and a Slack
# incoming webhook, served by the loadgen's --alert-sink) with their one-click links and the
# plane's view of each alert, the Parquet lake files with row counts, and a clean shutdown
# (SIGTERM).
# Before the loadgen starts it prints what a person can touch meanwhile: the demo shop served by
# the first edge (`[edge] demo_shop = true`; its URL carries the write key and a user of a $500k
# account in its fragment: rage-click Checkout and the intervention shows, the escalation pages
# the local receivers) and the plane's web dashboard with a sign-in token for the demo tenant.
# State goes under demo-data/ (git-ignored; wiped at each run).
# Environment: DEMO_SESSIONS (1000), DEMO_DURATION (30s), DEMO_RAMP (5s: how long sessions take
# to start, so a long one lets later sessions be assigned from earlier ones' conversions),
# DEMO_SEED (1), DEMO_MIX (the loadgen's
# --mix; its default when unset), DEMO_HOLD (0: seconds to keep everything running after the
# loadgen's run, with a light loadgen of DEMO_HOLD_SESSIONS (20) sessions and the alert
# receivers still going, so a person has time to click around the shop and the dashboard),
# CARGO, DEMO_BIN (a directory of built binaries to use instead of building release ones).
set -euo pipefail
cd "$(dirname "$0")/.."
CARGO="${CARGO:-cargo}"
SESSIONS="${DEMO_SESSIONS:-1000}"
DURATION="${DEMO_DURATION:-30s}"
RAMP="${DEMO_RAMP:-5s}"
SEED="${DEMO_SEED:-1}"
HOLD="${DEMO_HOLD:-0}"
HOLD_SESSIONS="${DEMO_HOLD_SESSIONS:-20}"
[[ "$HOLD" =~ ^[0-9]+$ ]] || { echo "demo: DEMO_HOLD must be a whole number of seconds" >&2; exit 2; }
[[ "$HOLD_SESSIONS" =~ ^[1-9][0-9]*$ ]] || { echo "demo: DEMO_HOLD_SESSIONS must be positive" >&2; exit 2; }
DATA=demo-data
REGIONS=(us-east-1 us-west-2 eu-west-1)
PORTS=(7411 7412 7413)
PLANE_PORT=7410
PLANE="http://127.0.0.1:$PLANE_PORT"
# The plane's HTTP face: the web dashboard (and `siqctl dashboard`). Not 7411-7414: the edges'
# TCP ports and their QUIC (UDP) ports, each the TCP port + 1.
HTTP_PORT=7420
DASHBOARD="http://127.0.0.1:$HTTP_PORT"
# The demo shop's visitor: a user of an account of its own (the loadgen's users are of the six in
# deploy/demo-accounts.jsonl, whose escalations may be cooling down by the time a person clicks).
SHOP_UID=u_shop_bruce
SHOP_EMAIL=bruce@wayne.example
# The local receivers standing in for the vendors (strict: they check each vendor's request shape).
SINK="127.0.0.1:7490"
# The signed webhooks' secret: the Standard Webhooks spec's published example (local only).
WHSEC=whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw
# The key that seals the edges' copies of alerting secrets at rest (a new one per run).
export SIQ_SECRETS_KEY
SIQ_SECRETS_KEY=$(od -An -tx1 -N32 /dev/urandom | tr -d ' \n')
# Local-only demo tokens (the plane wants at least 16 bytes, and two different tokens).
ADMIN_TOKEN=demo-admin-token-local-only
EDGE_TOKEN=demo-edge-token-local-only

if [ -n "${DEMO_BIN:-}" ]; then
  BIN="$DEMO_BIN" # binaries built already (e.g. a debug build's directory): no build
else
  echo "demo: building release binaries (the first build compiles RocksDB and links with LTO: ~35 min on 2 cores)"
  "$CARGO" build --release --locked -p sentientiq-edge -p sentientiq-loadgen -p sentientiq-lake \
    -p sentientiq-control
  BIN="${CARGO_TARGET_DIR:-target}/release"
fi
# A fresh build leaves gigabytes of dirty pages; the edges' synchronous spool writes would queue
# behind their writeback during the run (ack p99 31-44 ms on the first run after a build, 6 ms after).
sync

rm -rf "$DATA"
mkdir -p "$DATA/control"
pids=()
plane_pid=
stop() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [ -n "$plane_pid" ]; then
    kill -TERM "$plane_pid" 2>/dev/null || true
    wait "$plane_pid" 2>/dev/null || true
  fi
}
trap stop EXIT

# Succeeds once `GET path` on `port` answers 200 with a body matching the regex `want` (if any).
wait_http() {
  local port=$1 path=$2 want=${3:-} body
  for _ in $(seq 1 300); do
    if { exec 3<>"/dev/tcp/127.0.0.1/$port"; } 2>/dev/null; then
      printf 'GET %s HTTP/1.1\r\nHost: demo\r\nConnection: close\r\n\r\n' "$path" >&3
      body=$(cat <&3 || true)
      exec 3>&-
      if [[ "$body" == *" 200 "* ]] && { [ -z "$want" ] || grep -qE "$want" <<<"$body"; }; then
        return 0
      fi
    fi
    sleep 0.1
  done
  return 1
}

# The control plane, and in it the demo tenant that deploy/edge.example.toml describes.
printf 'listen = "127.0.0.1:%s"\nhttp_listen = "127.0.0.1:%s"\ndata_dir = "%s"\nadmin_token = "%s"\nedge_token = "%s"\nevi_poll_ms = 1000\n' \
  "$PLANE_PORT" "$HTTP_PORT" "$DATA/control/data" "$ADMIN_TOKEN" "$EDGE_TOKEN" > "$DATA/control/control.toml"
RUST_LOG=warn "$BIN/sentientiq-control" --config "$DATA/control/control.toml" \
  2> "$DATA/control/control.log" &
plane_pid=$!
for _ in $(seq 1 300); do
  if { exec 3<>"/dev/tcp/127.0.0.1/$PLANE_PORT"; } 2>/dev/null; then exec 3>&-; break; fi
  sleep 0.1
done
ctl() { "$BIN/siqctl" --endpoint "$PLANE" --token "$ADMIN_TOKEN" "$@"; }
ctl tenant create demo >/dev/null
ctl tenant origins demo '*' >/dev/null
ctl tenant emit demo true >/dev/null
ctl tenant label demo hesitation pricing price_anxiety >/dev/null
# Who is paged, and how: a CSM on a signed webhook and a Slack incoming webhook (both the local
# receivers), then a VP after 60 s unacknowledged. Stored by the plane, shown redacted.
cat > "$DATA/control/alerts.toml" <<TOML
[[contacts]]
id = "csm-oncall"
name = "CSM on call"
addresses = [
  { kind = "webhook", url = "http://$SINK/hooks/csm-oncall", secret = "$WHSEC" },
  { kind = "slack_webhook", url = "http://$SINK/services/T0DEMO/B0DEMO/demo" },
]
rate = { burst = 100, interval_ms = 1000 }

[[contacts]]
id = "vp-cs"
name = "VP Customer Success"
addresses = [{ kind = "webhook", url = "http://$SINK/hooks/vp-cs", secret = "$WHSEC" }]

[chains.oncall]
steps = [{ contacts = ["csm-oncall"] }, { contacts = ["vp-cs"], wait_ms = 60000 }]
TOML
ctl alerts set demo "$DATA/control/alerts.toml" >/dev/null
# The intervention is an experiment: three variants and a 20 % holdout (issue 17); the loadgen's
# sessions answer with known conversion probabilities (--uplift below), so the forensics table at
# the end can be read against the truth the loadgen prints.
ctl tenant rule demo help-on-rage --emotion rage --min-confidence 0.5 --require-identified \
  --session-cooldown-s 60 \
  --variant 'chat:chat:{"text":"Something not working? We are here to help."}' \
  --variant 'offer-10:offer:{"text":"10 % off if you finish today","pct":10}' \
  --variant 'article:help:{"text":"How checkout works","url":"/help/checkout"}' \
  --holdout 0.2 >/dev/null
ctl tenant rule demo escalate-100k --emotion rage --emotion frustration --require-identified \
  --min-value-cents 10000000 --account-cooldown-s 600 --escalate-chain oncall >/dev/null
# The account directory (six companies, $1.2k to $500k lifetime value) goes in through the plane;
# the loadgen's identified sessions are users of these companies.
ctl account import demo deploy/demo-accounts.jsonl >/dev/null
# The shop visitor's company ($500k, paged like the others); not among the loadgen's domains.
printf '%s\n' '{"match":"@wayne.example","company":"Wayne Enterprises","lifetime_value_cents":50000000,"tier":"strategic","owner_contact_ids":["csm-oncall"]}' \
  > "$DATA/control/shop-account.jsonl"
ctl account import demo "$DATA/control/shop-account.jsonl" >/dev/null
domains=()
while read -r d; do domains+=(--account-domain "$d"); done \
  < <(grep -oE '"match":"@[^"]+"' deploy/demo-accounts.jsonl | sed -e 's/.*"@//' -e 's/"$//')
KEY=$(ctl key issue demo | grep -oE 'siq_pk_[A-Za-z0-9]+' | head -n 1)
echo "demo: control plane on $PLANE: tenant demo, a key, $((${#domains[@]} / 2 + 1)) accounts imported"

for i in 0 1 2; do
  r=${REGIONS[$i]}
  port=${PORTS[$i]}
  mkdir -p "$DATA/$r"
  # The example config with this region's id, port and directories; one shard each (three
  # edges and the loadgen share this machine), lake files sealed every 2 s so they show, and
  # the per-address limit on new sessions lifted (every loadgen session comes from 127.0.0.1).
  sed -e "s|^id = \"edge-local-1\"|id = \"edge-$r\"|" \
      -e "s|^region = \"us-east-1\"|region = \"$r\"|" \
      -e "s|^listen = \"127.0.0.1:7400\"|listen = \"127.0.0.1:$port\"|" \
      -e "s|^shards = 0 |shards = 1 |" \
      -e "s|^data_dir = \"data/edge\"|data_dir = \"$DATA/$r/edge\"|" \
      -e "s|^dir = \"data/lake\"|dir = \"$DATA/$r/lake\"|" \
      -e "s|^max_age_s = 60 |max_age_s = 2 |" \
      -e "s|^poll_ms = 1000|poll_ms = 500|" \
      -e "s|^new_sessions_per_address_per_sec = 20 |new_sessions_per_address_per_sec = 100000 |" \
      -e "s|^new_session_burst_per_address = 200 |new_session_burst_per_address = 100000 |" \
      -e "s|^#\[control\]|[control]|" \
      -e "s|^#endpoint = \"http://127.0.0.1:7500\"|endpoint = \"$PLANE\"|" \
      -e "s|^#token = .*|token = \"$EDGE_TOKEN\"|" \
      -e "s|^#report_interval_ms = 60000|report_interval_ms = 5000|" \
      -e "s|^demo_shop = false |demo_shop = true  |" \
      deploy/edge.example.toml > "$DATA/$r/edge.toml"
  grep -q "^endpoint = \"$PLANE\"" "$DATA/$r/edge.toml" || { echo "demo: [control] not set" >&2; exit 1; }
  grep -q "^demo_shop = true" "$DATA/$r/edge.toml" || { echo "demo: demo_shop not set" >&2; exit 1; }
  # Each edge's shard on its own core where there are enough (an edge pins its shards to the
  # CPUs it may use, from the first up: unpinned, all three would share CPU 0).
  pin=()
  command -v taskset >/dev/null && pin=(taskset -c "$((i % $(nproc)))")
  RUST_LOG=warn "${pin[@]}" "$BIN/sentientiq-edge" --config "$DATA/$r/edge.toml" 2> "$DATA/$r/edge.log" &
  pids+=($!)
done

# Ready when /readyz answers 200 and the edge serves the plane's config (version > 0).
for port in "${PORTS[@]}"; do
  if ! wait_http "$port" /readyz \
    || ! wait_http "$port" /metrics 'siq_control_config_version\{[^}]*\} [1-9]'; then
    echo "demo: the edge on port $port did not become ready; see $DATA/*/edge.log" >&2
    exit 1
  fi
done
echo "demo: edges ready, following the control plane: ${REGIONS[*]} on ports ${PORTS[*]}"

# What a person can touch while it runs: the shop (first edge) and the dashboard.
wait_http "${PORTS[0]}" /demo/shop || { echo "demo: the edge does not serve /demo/shop" >&2; exit 1; }
DASH_TOKEN=$(ctl dashboard --http "$DASHBOARD" token demo | tail -n 1)
SHOP="http://127.0.0.1:${PORTS[0]}/demo/shop#key=$KEY&uid=$SHOP_UID&email=$SHOP_EMAIL"
hold_note="then everything stays up for DEMO_HOLD=${HOLD}s more"
[ "$HOLD" -eq 0 ] && hold_note="then it stops (DEMO_HOLD=600 keeps it up 10 minutes more)"
cat <<EOF

================================================================================================
 Try it while the demo runs: the loadgen's sessions run for $DURATION, $hold_note.

 Shop (as a user of Wayne Enterprises, a \$500k account; rage-click Checkout, which does nothing):
   $SHOP
   The help widget appears (1 visit in 5 is the experiment's holdout and gets none: press
   "New visit"), the escalation pages the local receivers on $SINK (the loadgen lists the
   alerts they got when it ends), and the dashboard's feed and EVI move.

 Dashboard: $DASHBOARD/login
   token (tenant demo): $DASH_TOKEN
================================================================================================

EOF

args=()
for port in "${PORTS[@]}"; do args+=(--edge "ws://127.0.0.1:$port/v1/ws"); done
# Half the sessions over QUIC (each edge's UDP port is its TCP port + 1), pinning each edge's
# self-signed certificate.
args+=(--transport mixed)
[ -n "${DEMO_MIX:-}" ] && args+=(--mix "$DEMO_MIX")
for r in "${REGIONS[@]}"; do args+=(--quic-pin "$DATA/$r/edge/quic/cert.sha256"); done
"$BIN/sentientiq-loadgen" "${args[@]}" --sessions "$SESSIONS" --duration "$DURATION" \
  --ramp "$RAMP" --seed "$SEED" --key "$KEY" "${domains[@]}" --report "$DATA/loadgen.json" \
  --alert-sink "$SINK" --alert-secret "$WHSEC" \
  --uplift holdout=0.10,chat=0.20,offer-10=0.30,article=0.12 --uplift-emotion rage

# DEMO_HOLD: everything stays up a while longer for a person at the shop and the dashboard, with
# a light loadgen beside them (the alert receivers are its, so they keep listening too).
if [ "$HOLD" -gt 0 ]; then
  echo
  echo "demo: holding for ${HOLD}s (DEMO_HOLD) with $HOLD_SESSIONS loadgen sessions beside you:"
  echo "demo:   shop $SHOP"
  echo "demo:   dashboard $DASHBOARD/login, token $DASH_TOKEN"
  "$BIN/sentientiq-loadgen" "${args[@]}" --sessions "$HOLD_SESSIONS" --duration "${HOLD}s" \
    --ramp "$((HOLD < 10 ? HOLD : 10))s" --seed "$((SEED + 1))" --key "$KEY" "${domains[@]}" \
    --report "$DATA/loadgen-hold.json" --alert-sink "$SINK" --alert-secret "$WHSEC"
fi

# Let the last spool segments seal and ship, then stop the edges cleanly (each reports its last
# windows to the plane on the way out).
sleep 4
for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
pids=()
echo
ctl evi demo --minutes 10
echo
echo "alerts (the plane's view across regions: who was told, by which channel, and the outcome):"
ctl alerts list --tenant demo
echo
echo "experiments (the plane's merge of every edge's counts; the loadgen's truth is above):"
ctl forensics demo --days 1
kill -TERM "$plane_pid" 2>/dev/null || true
wait "$plane_pid" 2>/dev/null || true
plane_pid=
trap - EXIT
echo
echo "lake (Parquet files written by each region's edge):"
for r in "${REGIONS[@]}"; do
  echo "== $r"
  "$BIN/sentientiq-lake-ls" --totals "$DATA/$r/lake"
done
echo
echo "demo: report in $DATA/loadgen.json; logs in $DATA/<region>/edge.log and $DATA/control/control.log"
