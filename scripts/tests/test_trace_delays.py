"""scripts/trace-delays.py's own logic, on hand-made scheduler events (no perf, no trace file)."""
import importlib.util
import pathlib
import sys
import unittest

_spec = importlib.util.spec_from_file_location(
    "trace_delays", pathlib.Path(__file__).resolve().parent.parent / "trace-delays.py")
td = importlib.util.module_from_spec(_spec)
_argv, sys.argv = sys.argv, ["trace-delays.py"]  # it reads its arguments at import, as perf runs it
try:
    _spec.loader.exec_module(td)
finally:
    sys.argv = _argv


def switch(t, prev_pid, prev_state, next_pid, cpu=0):
    """A sched_switch at t ns, through the handler perf calls."""
    td.sched__sched_switch("sched__sched_switch", None, cpu, 0, t, prev_pid, "x", None,
                           "prev", prev_pid, 120, prev_state, "next", next_pid, 120)


def wakeup(t, pid):
    td.sched__sched_wakeup("sched__sched_wakeup", None, 0, 0, t, 0, "waker", None, "x", pid, 120, 0)


SLEEPING, PREEMPTED = 1, 0x100  # TASK_INTERRUPTIBLE; TASK_REPORT_MAX, perf's "R+"


class RunnableSpans(unittest.TestCase):
    def setUp(self):
        td.runnable_marks.clear()
        td.switches.clear()

    def test_a_sleeping_task_is_runnable_from_its_wake_up_to_its_switch_in(self):
        switch(0, 9, SLEEPING, 7)
        switch(10, 7, SLEEPING, 9)
        wakeup(20, 7)
        switch(25, 9, PREEMPTED, 7)
        self.assertEqual(td.runnable_spans(7), [(20, 25)])
        self.assertEqual(td.runnable_spans(9), [], "9 ran, then was preempted at 25: open, not counted")

    def test_a_wake_up_while_on_its_cpu_counts_for_nothing(self):
        switch(0, 9, 0, 7)
        wakeup(5, 7)  # woken before it could sleep
        switch(10, 7, SLEEPING, 9)
        wakeup(30, 7)
        switch(32, 9, SLEEPING, 7)
        self.assertEqual(td.runnable_spans(7), [(30, 32)])

    def test_a_preempted_task_is_runnable_until_it_runs_again(self):
        switch(0, 9, SLEEPING, 7)
        switch(10, 7, PREEMPTED, 9)
        switch(15, 9, SLEEPING, 7)
        switch(40, 7, 0, 9)  # switched out still running (yield): runnable too
        switch(41, 9, SLEEPING, 7)
        self.assertEqual(td.runnable_spans(7), [(10, 15), (40, 41)])

    def test_a_wake_up_before_the_trace_shows_the_tasks_state_counts_for_nothing(self):
        wakeup(5, 7)
        switch(8, 9, SLEEPING, 7)
        self.assertEqual(td.runnable_spans(7), [])

    def test_idle_tasks_switched_out_are_asleep(self):
        switch(0, 9, 0, 7)
        switch(10, 7, 0x80, 9)  # TASK_REPORT_IDLE
        switch(20, 9, SLEEPING, 7)
        self.assertEqual(td.runnable_spans(7), [])

    def test_what_held_the_cpu_while_the_task_was_runnable(self):
        switch(0, 9, 0, 7)
        switch(10, 7, PREEMPTED, 9)
        switch(15, 9, SLEEPING, 7)
        spans = td.runnable_spans(7)
        self.assertEqual(dict(td.on_cpu(0, *spans[0])), {"next[9]": 5})


class Intervals(unittest.TestCase):
    def test_clipped_keeps_only_the_parts_inside_the_window(self):
        spans = [(10, 15), (20, 25), (30, 35)]
        self.assertEqual(td.clipped(spans, 12, 22), [(12, 15), (20, 22)])
        self.assertEqual(td.clipped(spans, 15, 20), [])
        self.assertEqual(td.clipped(spans, 0, 100), spans)

    def test_merged_joins_overlaps_on_one_cpu_only(self):
        self.assertEqual(td.merged([(0, 10, 0), (5, 12, 0), (6, 8, 1), (20, 30, 0)]),
                         [(0, 12, 0), (20, 30, 0), (6, 8, 1)])


if __name__ == "__main__":
    unittest.main()
