#!/usr/bin/env bash
# Wait for a new sentientiq-edge and put its lake shipper thread under SCHED_IDLE (chrt -i 0):
# a waking shard then always preempts it, instead of the nice-10 weighting deciding.
old=$(pgrep -x sentientiq-edge | tr '\n' ' ')
for i in $(seq 1 300); do
  for p in $(pgrep -x sentientiq-edge); do
    [[ " $old " == *" $p "* ]] && continue
    for t in /proc/$p/task/*; do
      if [ "$(cat $t/comm 2>/dev/null)" = lake-shipper ]; then
        chrt -i -p 0 "${t##*/}" && echo "$(date +%T) edge $p lake-shipper ${t##*/}: $(chrt -p ${t##*/} | tr '\n' ' ')" && exit 0
      fi
    done
  done
  sleep 0.1
done
echo "no lake-shipper found" >&2; exit 1
