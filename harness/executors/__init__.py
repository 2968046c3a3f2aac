"""Who runs the grid's jobs: `local` (one after another in this process, the default) or `ray`.

Both run a graph of jobs (`harness.graph`): the driver (`harness.pipeline`) hands them the
planned cells, each runs every job after the jobs it needs and hands each finished cell back
through `JobCallbacks.done`; the driver records it (`harness.recording`). Neither decides what
to run, what a job does or how a result is recorded.
"""

from __future__ import annotations

from harness.executors.base import EXECUTORS, Executor, ExecutorError, JobCallbacks, make_executor

__all__ = ["EXECUTORS", "Executor", "ExecutorError", "JobCallbacks", "make_executor"]
