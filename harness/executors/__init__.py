"""Who runs the grid's jobs: `local` (one after another in this process, the default) or `ray`.

Both get the same plan (`harness.pipeline.Plan`) and hand every finished detect job back
to the driver through `on_done`, which logs it to MLflow and prints it; neither decides
what to run or how a result is recorded.
"""

from __future__ import annotations

from harness.executors.base import EXECUTORS, Executor, ExecutorError, JobCallbacks, make_executor

__all__ = ["EXECUTORS", "Executor", "ExecutorError", "JobCallbacks", "make_executor"]
