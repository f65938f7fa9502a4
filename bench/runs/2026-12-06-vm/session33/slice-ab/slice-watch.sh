#!/usr/bin/env bash
# wait for a new sentientiq-edge and give its shard threads a 0.1 ms slice
old=$(pgrep -x sentientiq-edge | tr '\n' ' ')
for i in $(seq 1 300); do
  for p in $(pgrep -x sentientiq-edge); do
    [[ " $old " == *" $p "* ]] && continue
    done_any=0
    for t in /proc/$p/task/*; do
      if [ "$(cat $t/comm 2>/dev/null)" = unnamed-1 ]; then
        python3 /var/tmp/s33/slice.py "${t##*/}" "${SLICE_NS:-100000}" 0 && done_any=1
        echo "$(date +%T) edge $p shard ${t##*/}: $(grep se.slice $t/sched)"
      fi
    done
    [ $done_any = 1 ] && exit 0
  done
  sleep 0.1
done
echo "no edge shard found" >&2; exit 1
