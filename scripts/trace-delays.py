# Where a frame's time goes between two processes on one machine, from a kernel trace recorded by
# scripts/bench-trace.sh. Run it through perf's Python scripting:
#
#   perf script -i perf.data -s scripts/trace-delays.py [-- SERVER_COMM STALL_MS]
#
# SERVER_COMM is the server's shard threads' name (`unnamed-1`, glommio's, by default) and
# STALL_MS the read delay that counts as a stall (8 ms). It reports, from the TCP sockets only:
#
# - read delays: for each socket, from the kernel making data readable (sock:sk_data_ready) to the
#   process's next read that returns data (sock:sock_recv_length), by the process that reads the
#   socket (the server, the loadgen);
# - the server's hold: from a read on one of its sockets to its next write on that socket (for
#   the edge: the frame's ack, after its group commit);
# - the server's file syncs (ext4:ext4_sync_file_enter/exit), slowest first;
# - who held the reader's CPU, in all, while its reads waited 1 ms or more, and of that time the
#   part when the reading thread was runnable, waiting for a CPU (from sched:sched_wakeup, or
#   switched out still running, until it was switched in): only that part is time another task
#   took from it; the rest it was asleep (for the edge's shard: gathering completions, by design)
#   or busy itself;
# - stalls: the moments when reads waited STALL_MS or more, and what held the reader's CPU then
#   (sched:sched_switch: every task switched in on that CPU in the stall's window, with its time
#   on the CPU), and the syncs in flight.
#
# Every number comes from the trace; a task whose own events the trace cannot see (a process the
# kernel hides from perf) still shows as the `next_comm` of the switch that gave it the CPU.
import bisect
import collections
import sys

SERVER = sys.argv[1] if len(sys.argv) > 1 else "unnamed-1"
STALL_NS = int(float(sys.argv[2] if len(sys.argv) > 2 else 8) * 1e6)
# Reads that waited this long count in "who held the reader's CPU" (1 ms: a shard that is not
# held off its CPU reads within about a millisecond; the edge's median wait is 0.5-0.7 ms).
WAIT_NS = 1_000_000
TCP = 6

events = []  # (t_ns, kind, sk, comm, cpu, ret, tid)
switches = collections.defaultdict(list)  # cpu -> [(t_ns, next_comm, next_pid)]
# tid -> [(t_ns, what)], in the trace's order: IN switched in, OUT_RUNNING switched out still
# runnable, OUT_ASLEEP switched out to sleep, WAKE woken
runnable_marks = collections.defaultdict(list)
IN, OUT_RUNNING, OUT_ASLEEP, WAKE = range(4)
syncs = []  # (start_ns, end_ns, comm)
sync_open = {}  # tid -> (start_ns, comm)


def ns(secs, nsecs):
    return secs * 1_000_000_000 + nsecs


def sock__sk_data_ready(event_name, context, cpu, secs, nsecs, pid, comm, callchain,
                        skaddr, family, protocol, *rest):
    if protocol == TCP:
        events.append((ns(secs, nsecs), 0, skaddr, comm, cpu, 0, pid))


def sock__sock_recv_length(event_name, context, cpu, secs, nsecs, pid, comm, callchain,
                           sk, family, protocol, ret, *rest):
    if protocol == TCP:
        events.append((ns(secs, nsecs), 1, sk, comm, cpu, ret, pid))


def sock__sock_send_length(event_name, context, cpu, secs, nsecs, pid, comm, callchain,
                           sk, family, protocol, ret, *rest):
    if protocol == TCP:
        events.append((ns(secs, nsecs), 2, sk, comm, cpu, ret, pid))


def sched__sched_switch(event_name, context, cpu, secs, nsecs, pid, comm, callchain,
                        prev_comm, prev_pid, prev_prio, prev_state, next_comm, next_pid, *rest):
    t = ns(secs, nsecs)
    switches[cpu].append((t, next_comm, next_pid))
    # Switched out still running (preempted, or yielding): runnable from now. The kernel reports
    # a preempted task's state as TASK_REPORT_MAX (0x100, perf's "R+") and a running one as 0;
    # sleeping states and idle (0x80) sit in the low byte.
    if prev_pid != 0:
        runnable_marks[prev_pid].append((t, OUT_RUNNING if prev_state & 0xFF == 0 else OUT_ASLEEP))
    runnable_marks[next_pid].append((t, IN))


def sched__sched_wakeup(event_name, context, cpu, secs, nsecs, common_pid, common_comm, callchain,
                        comm, pid, prio, *rest):
    runnable_marks[pid].append((ns(secs, nsecs), WAKE))


def ext4__ext4_sync_file_enter(event_name, context, cpu, secs, nsecs, pid, comm, callchain, *rest):
    sync_open[pid] = (ns(secs, nsecs), comm)


def ext4__ext4_sync_file_exit(event_name, context, cpu, secs, nsecs, pid, comm, callchain, *rest):
    start = sync_open.pop(pid, None)
    if start is not None:
        syncs.append((start[0], ns(secs, nsecs), start[1]))


def trace_unhandled(event_name, context, event_fields_dict, perf_sample_dict=None):
    pass


def quantiles(xs):
    xs = sorted(xs)
    if not xs:
        return "n=0"
    q = lambda p: xs[min(len(xs) - 1, int(p * len(xs)))] / 1e6
    return (f"n={len(xs)} p50 {q(0.5):.2f} p90 {q(0.9):.2f} p99 {q(0.99):.2f} "
            f"p99.9 {q(0.999):.2f} max {xs[-1] / 1e6:.2f} ms")


def on_cpu(cpu, start, end, held=None):
    """Who held `cpu` in [start, end): name -> ns, from the switches into each task."""
    held = collections.Counter() if held is None else held
    sw = switches.get(cpu, [])
    i = max(0, bisect.bisect_right(sw, (start, "\uffff", 1 << 62)) - 1)
    while i < len(sw) and sw[i][0] < end:
        t, name, tid = sw[i]
        t_end = sw[i + 1][0] if i + 1 < len(sw) else end
        lo, hi = max(t, start), min(t_end, end)
        if hi > lo:
            held[f"{name}[{tid}]"] += hi - lo
        i += 1
    return held


def runnable_spans(tid):
    """The intervals in which `tid` was runnable but not on a CPU, in time order: from a wake-up
    while it slept, or from being switched out still runnable, to its next switch in. A wake-up
    of a task that is on its CPU (it woke before it could sleep) or of one whose state the trace
    has not shown yet counts for nothing."""
    spans, since, state = [], None, None
    for t, what in sorted(runnable_marks.get(tid, []), key=lambda m: m[0]):
        if what == IN:
            if since is not None:
                spans.append((since, t))
            since, state = None, IN
        elif what == OUT_RUNNING:
            since, state = t, OUT_RUNNING
        elif what == OUT_ASLEEP:
            since, state = None, OUT_ASLEEP
        elif state == OUT_ASLEEP:
            since, state = t, WAKE
    return spans


def clipped(spans, start, end):
    """The parts of sorted, disjoint `spans` inside [start, end)."""
    i = max(0, bisect.bisect_right(spans, (start, 1 << 62)) - 1)
    out = []
    while i < len(spans) and spans[i][0] < end:
        lo, hi = max(spans[i][0], start), min(spans[i][1], end)
        if hi > lo:
            out.append((lo, hi))
        i += 1
    return out


def merged(intervals):
    """(start, end, cpu) intervals with those overlapping on one CPU joined."""
    out = []
    for a, b, cpu in sorted(intervals, key=lambda x: (x[2], x[0])):
        if out and a <= out[-1][1] and cpu == out[-1][2]:
            out[-1] = (out[-1][0], max(out[-1][1], b), cpu)
        else:
            out.append((a, b, cpu))
    return out


def trace_end():
    events.sort()
    if not events:
        print("no TCP socket events in the trace")
        return
    t0 = events[0][0]
    reader = {}
    for t, kind, sk, comm, cpu, ret, tid in events:
        if kind == 1 and ret > 0:
            reader.setdefault(sk, comm)
    pending = collections.defaultdict(list)
    delays = collections.defaultdict(list)  # reader -> [(delay, ready_t, read_t, cpu, tid)]
    last_read = {}
    holds = []
    for t, kind, sk, comm, cpu, ret, tid in events:
        if kind == 0:
            pending[sk].append(t)
        elif kind == 1 and ret > 0:
            for ready in pending.pop(sk, []):
                delays[comm].append((t - ready, ready, t, cpu, tid))
            last_read.setdefault(sk, t)
        elif kind == 2 and ret > 0 and reader.get(sk) == SERVER and sk in last_read:
            holds.append(t - last_read.pop(sk))
    span = (events[-1][0] - t0) / 1e9
    print(f"trace: {span:.2f} s, {len(events)} TCP socket events, {len(reader)} sockets read")
    print()
    print("read delay (data readable -> the reader's next read), by reader:")
    for comm, d in sorted(delays.items(), key=lambda kv: -len(kv[1])):
        print(f"  {comm}: {quantiles([x[0] for x in d])}")
    print(f"server hold ({SERVER}: a read -> its next write on that socket): {quantiles(holds)}")
    print()
    print(f"who held the reader's CPU while its reads waited {WAIT_NS / 1e6:g} ms or more (ms):")
    def top(held):
        return ", ".join(f"{k} {v / 1e6:.1f}" for k, v in held.most_common(5))

    spans = {}
    for comm, d in sorted(delays.items(), key=lambda kv: -len(kv[1])):
        by_tid = collections.defaultdict(list)  # the reader's long waits, by reading thread
        for delay, ready, read, cpu, tid in d:
            if delay >= WAIT_NS:
                by_tid[tid].append((ready, read, cpu))
        held = collections.Counter()
        waits = merged([w for ws in by_tid.values() for w in ws])
        for a, b, cpu in waits:
            on_cpu(cpu, a, b, held)
        total = sum(b - a for a, b, _ in waits)
        print(f"  {comm}: {len(waits)} waits, {total / 1e6:.1f} ms in all: {top(held)}")
        # The same waits per reading thread, clipped to when that thread was runnable: the time
        # the CPU's holders took from it. The read's CPU stands for the thread's (exact for a
        # pinned reader; an unpinned one may have waited on another).
        taken = collections.Counter()
        contended = 0
        for tid, ws in by_tid.items():
            if tid not in spans:
                spans[tid] = runnable_spans(tid)
            for a, b, cpu in merged(ws):
                for lo, hi in clipped(spans[tid], a, b):
                    contended += hi - lo
                    on_cpu(cpu, lo, hi, taken)
        print(f"    of which runnable, waiting for its CPU: {contended / 1e6:.1f} ms: {top(taken)}")
    print()
    print(f"file syncs: {quantiles([b - a for a, b, _ in syncs])}")
    for a, b, comm in sorted(syncs, key=lambda s: s[0] - s[1])[:5]:
        print(f"  {(a - t0) / 1e6:9.1f} ms  {(b - a) / 1e6:6.2f} ms  {comm}")
    print()
    print(f"stalls (reads that waited {STALL_NS / 1e6:g} ms or more), by reader:")
    for comm, d in sorted(delays.items(), key=lambda kv: -len(kv[1])):
        slow = sorted(x for x in d if x[0] >= STALL_NS)
        if not slow:
            print(f"  {comm}: none")
            continue
        print(f"  {comm}: {len(slow)} of {len(d)} reads ({100 * len(slow) / len(d):.2f} %)")
        # Reads whose waits overlap are one stall.
        clusters = []
        for delay, ready, read, cpu, _ in sorted(slow, key=lambda x: x[1]):
            if clusters and ready <= clusters[-1][1]:
                c = clusters[-1]
                clusters[-1] = (c[0], max(c[1], read), c[2] + 1, max(c[3], delay), c[4])
            else:
                clusters.append((ready, read, 1, delay, cpu))
        for start, end, n, worst, cpu in clusters:
            held = on_cpu(cpu, start, end)
            top = ", ".join(f"{k} {v / 1e6:.1f}" for k, v in held.most_common(4))
            inflight = [s for s in syncs if s[0] < end and s[1] > start]
            sync_note = ""
            if inflight:
                longest = max(b - a for a, b, _ in inflight)
                sync_note = f"; syncs in flight {len(inflight)}, longest {longest / 1e6:.1f} ms"
            print(f"    at {(start - t0) / 1e6:9.1f} ms for {(end - start) / 1e6:5.1f} ms: "
                  f"{n} reads, worst {worst / 1e6:.1f} ms; CPU {cpu} held by (ms): {top}{sync_note}")
