"""The one error an executor raises itself (a job's errors are `harness.graph.JobFailed`)."""

from __future__ import annotations


class ExecutorError(RuntimeError):
    """An executor cannot start (Ray missing, cluster unreachable): one line saying what to do."""
