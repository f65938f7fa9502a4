#!/usr/bin/env bash
# usage: watch.sh OUT_FILE
# Beside a running QUIC case (one or more loadgens, summed): every 0.5 s, one line of
#   t_s  loadgen_cpu_ticks  loadgen_runq_wait_ms  loadgen_udp_recvq_bytes  edge_udp_recvq_bytes
#   udp_rcvbuf_errors  steal_ticks  edge_cpu_ticks  idle_ticks  iowait_ticks (all CPUs; a CPU
# waiting for the spool's fdatasync with nothing to run counts as iowait, not idle)
# (cumulative counters are printed as they are; the reader takes differences). Recv-Q is what
# the kernel holds for a socket that its process has not read yet: if a stall sits in a
# process's own loop, its sockets' queues grow while the other's stay empty.
set -u
OUT=$1
pid_of() { pgrep -f "$1" | head -1; }
for _ in $(seq 100); do pgrep -f "sentientiq-loadgen .*--transport quic" > /dev/null && break; sleep 0.1; done
sleep 0.5
lgs=$(pgrep -f "sentientiq-loadgen .*--transport quic" | tr '\n' ' ')
edge=$(pid_of "sentientiq-edge --config edge.toml")
[ -n "$lgs" ] && [ -n "$edge" ] || { echo "no loadgen or edge" >&2; exit 1; }
start=$(date +%s.%N)
alive() { for p in $lgs; do [ -r "/proc/$p/stat" ] && return 0; done; return 1; }
while alive; do
  now=$(date +%s.%N)
  lcpu=0; wait_ns=0
  for p in $lgs; do
    for t in /proc/$p/task/*; do
      read -r _ w _ < "$t/schedstat" 2>/dev/null && wait_ns=$((wait_ns + w))
      s=$(awk '{print $14 + $15}' "$t/stat" 2>/dev/null) && lcpu=$((lcpu + s))
    done
  done
  ecpu=$(awk '{print $14 + $15}' "/proc/$edge/stat")
  qs=$(ss -uanp 2>/dev/null | awk -v lgs="$lgs" -v ep="pid=$edge," '
        BEGIN { n = split(lgs, p, " ") }
        { for (i = 1; i <= n; i++) if (index($0, "pid=" p[i] ",")) l += $2 }
        index($0, ep) && $4 ~ /:7461$/ { e += $2 }
        END { printf "%d %d", l, e }')
  rcvbuf=$(awk '/^Udp:/ { if (h) { print $6 } h = 1 }' /proc/net/snmp)
  read -r steal idle iowait < <(awk '/^cpu / { print $9, $5, $6 }' /proc/stat)
  echo "$(awk -v a="$start" -v b="$now" 'BEGIN {printf "%.1f", b - a}') $lcpu $((wait_ns / 1000000)) $qs $rcvbuf $steal $ecpu $idle $iowait" >> "$OUT"
  sleep 0.5
done
