"""The executor interface, and the choice of one by name.

An executor runs a graph of jobs (`harness.graph`) and knows nothing else of the benchmark: the
implementations import `harness.graph` only (and `harness.executors.errors`), never this module,
so choosing one here by name makes no import circle.
"""

from __future__ import annotations

from typing import Any, Protocol, Sequence

from harness.executors.errors import ExecutorError
from harness.graph import Env, EventKind, Job, JobCallbacks, failure, first_line

__all__ = ["EXECUTORS", "EventKind", "Executor", "ExecutorError", "JobCallbacks", "failure", "first_line",
           "make_executor", "resolve_executor"]

EXECUTORS = ("local", "ray")


class Executor(Protocol):
    name: str

    def threads_per_job(self, requested: int | str | None) -> tuple[int, str] | None:
        """Torch threads each job should use when the spec says `auto`; None = the driver decides."""

    def run(self, context: Any, jobs: Sequence[Job], env: Env, callbacks: JobCallbacks) -> None:
        """Run `jobs` (the targets), each after the jobs it needs, and report each target through
        `callbacks.done`; `context` is what every job shares (the spec), handed to each `Job.run`."""


def resolve_executor(name: str, address: str | None = None) -> tuple[str, str]:
    """The executor `auto` stands for, and why: Ray where it is installed and the machine has
    ≥ 2 cores (jobs side by side, one torch thread each), else local. A cluster `address` always
    means Ray.

    Not the load average: an idle 2-core box reads 0.5–0.9 from kernel threads alone, so
    "cores − load" flipped between 1 and 2 on the same idle machine. And it is not needed:
    the 5–10× slowdown on a busy box came from *multi-threaded* torch ops waiting for each
    other; one-thread jobs only time-slice, so two of them never do worse than one."""
    if name != "auto":
        return name, "as asked"
    if address is not None:
        return "ray", "a Ray address was given"
    import importlib.util

    from harness.runtime import available_cores

    if importlib.util.find_spec("ray") is None:
        return "local", "Ray is not installed (pip install -e '.[ray]')"
    cores = available_cores()
    if cores < 2:
        return "local", f"{cores} core: nothing to run side by side"
    return "ray", f"{cores} cores, one job per core"


def make_executor(name: str, **options: Any) -> Executor:
    """`local` takes no options; `ray` takes address, gpus_per_job, cpus_per_job (see `RayExecutor`)."""
    if name == "local":
        if any(v is not None for v in options.values()):
            given = ", ".join(f"--{k.replace('_', '-')}" for k, v in options.items() if v is not None)
            raise ExecutorError(f"{given}: only for --executor ray")
        from harness.executors.local import LocalExecutor

        return LocalExecutor()
    if name == "ray":
        from harness.executors.ray_executor import RayExecutor

        return RayExecutor(**{k: v for k, v in options.items() if v is not None})
    raise ExecutorError(f"unknown executor '{name}'; choose from {', '.join(EXECUTORS)}")
