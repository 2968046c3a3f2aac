"""The executor interface, and the choice of one by name."""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable, Literal, Protocol

from harness.jobs import DetectJob, DetectResult, GenerateJob, JobEnv, JobFailed

if TYPE_CHECKING:
    from harness.config import ExperimentSpec

EXECUTORS = ("local", "ray")


class ExecutorError(RuntimeError):
    """An executor cannot start (Ray missing, cluster unreachable): one line saying what to do."""


#: what a job tells the driver while it runs: it began, a note (``fitting dhdiff …``), it ended
EventKind = Literal["start", "note", "end"]


def _ignore(job: "DetectJob | GenerateJob", kind: EventKind, text: str) -> None:
    return None


@dataclass(frozen=True)
class JobCallbacks:
    """The driver's side. `started`/`done`: a detect job (a cell) began / ended with its result.
    `event`: everything else a user should see as it happens, from any job, fits included:
    (job, "start" | "note" | "end", text); a fit's "end" text is "" or its failure's first line."""

    started: Callable[[DetectJob], None]
    done: Callable[[DetectJob, DetectResult | JobFailed], None]
    event: Callable[["DetectJob | GenerateJob", EventKind, str], None] = _ignore


class Executor(Protocol):
    name: str

    def threads_per_job(self, requested: int | str | None) -> tuple[int, str] | None:
        """Torch threads each job should use when the spec says `auto`; None = the driver decides."""

    def run(self, spec: "ExperimentSpec", jobs: list[DetectJob], env: JobEnv, callbacks: JobCallbacks) -> None:
        """Run `jobs` (each after the generate job it needs) and report each through `callbacks.done`."""


def first_line(text: str) -> str:
    """What a one-line summary of a failure shows."""
    lines = text.strip().splitlines()
    return lines[0] if lines else ""


def failure(exc: BaseException) -> JobFailed:
    """A job's exception as the driver records it: first line for the summary, traceback for cells/failed/."""
    if isinstance(exc, JobFailed):
        return exc
    msg = f"{type(exc).__name__}: {exc}"
    tb = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    return JobFailed(msg, msg + "\n" + tb)


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
