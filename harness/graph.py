"""A graph of jobs, and what an executor needs to know to run one: nothing of the benchmark.

A `Job` has an `id`, the jobs it `needs` (run first; their results are its `inputs`) and a
`run`. An executor (`harness.executors`) is given the *targets* (the jobs whose results the
driver wants: the grid's cells) and runs each target's needs before it, each need once however
many targets share it. A need that fails is not retried: every target that needs it fails with
its error, without running. The driver hears of targets through `JobCallbacks.started` /
`done`, and of needs (and of notes from any job) through `JobCallbacks.event`.

Why jobs, not "generate, then detect": the local and the Ray executor both used to re-implement
"generate once, before the detect jobs that need it". With the graph here they only run jobs in
dependency order; what a job does (`harness.jobs`) and how a result is recorded
(`harness.recording`) are not theirs to know. The module imports nothing from the harness.
"""

from __future__ import annotations

import traceback
from dataclasses import dataclass
from typing import Any, Callable, Literal, Protocol, Sequence


class Env(Protocol):
    """How jobs run in one process (`harness.jobs.JobEnv`): an executor reads its device and threads,
    routes its notes, and sends workers a copy without the driver's display."""

    device: str
    threads: int

    def with_note(self, note: Callable[[str], None]) -> "Env":
        """This env, with its notes going to `note`."""

    def for_worker(self) -> "Env":
        """This env as another process runs it: nothing that cannot be pickled, no display of its own."""


class Job(Protocol):
    """One unit of work. `needs`: None, one job, or a sequence of jobs, run before this one."""

    @property
    def id(self) -> str: ...

    @property
    def needs(self) -> "Job | Sequence[Job] | None": ...

    #: a long, large job (a generator that trains): run early, and given a larger share of a GPU
    heavy: bool

    def run(self, context: Any, env: Any, inputs: Sequence[Any]) -> Any:
        """Do the work. `context`: what every job of the graph shares (the spec), sent to a worker once;
        `inputs`: the results of `needs`, in order."""


def needs_of(job: Job) -> tuple[Job, ...]:
    """A job's needs as a tuple, whichever of None, one job or a sequence it declares."""
    needs = job.needs
    if needs is None:
        return ()
    if isinstance(needs, (list, tuple)):
        return tuple(needs)
    return (needs,)


def in_order(targets: Sequence[Job]) -> list[Job]:
    """Every job the targets need, each once, needs before the jobs that need them (targets last in
    their own order, each right after the needs it is the first to use)."""
    seen: set[str] = set()
    out: list[Job] = []

    def visit(job: Job) -> None:
        if job.id in seen:
            return
        for need in needs_of(job):
            visit(need)
        seen.add(job.id)
        out.append(job)

    for job in targets:
        visit(job)
    return out


def heavy_first(targets: Sequence[Job]) -> list[Job]:
    """Submission order for executors that run jobs side by side: each heavy need with the targets
    that use it, one light target after every heavy group but the last, then the rest of the light
    targets. Executors start ready jobs in submission order, so the heavy ones start first (a long
    job started last would run alone at the end while the other cores idle: the grid's wall time is
    at least its longest chain), and the light job between two heavy ones shows a first result
    within seconds. Giving each heavy job a larger share of light ones before the next kept the
    quick demo's second DH-Diff fit waiting 3.5 min on 2 cores (7 min 40 s in all instead of ~6).
    Order within each group is kept; results do not depend on the order."""
    heavy: dict[str, list[Job]] = {}
    light: list[Job] = []
    for job in targets:
        big = next((n for n in needs_of(job) if getattr(n, "heavy", False)), None)
        if big is not None:
            heavy.setdefault(big.id, []).append(job)
        else:
            light.append(job)
    if not heavy:
        return light
    k = len(heavy)
    shares = [light[i:i + 1] for i in range(k - 1)] + [light[k - 1:]]
    return [job for group, share in zip(heavy.values(), shares) for job in (*group, *share)]


class JobFailed(Exception):
    """A job raised: the message and traceback travel (picklable) to the driver and into cells/failed/."""

    def __init__(self, message: str, details: str):
        super().__init__(message)
        self.message, self.details = message, details

    def __reduce__(self):
        return (JobFailed, (self.message, self.details))


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


def failed_input(inputs: Sequence[Any]) -> JobFailed | None:
    """The first of a job's inputs that is a failure (the job then fails with it, unrun)."""
    return next((i for i in inputs if isinstance(i, JobFailed)), None)


#: what a job tells the driver while it runs: it began, a note (``fitting dhdiff …``), it ended
EventKind = Literal["start", "note", "end"]


def _ignore(job: Job, kind: EventKind, text: str) -> None:
    return None


@dataclass(frozen=True)
class JobCallbacks:
    """The driver's side. `started`/`done`: a target began / ended with its result (or `JobFailed`).
    `event`: everything else a user should see as it happens, from any job, needs included:
    (job, "start" | "note" | "end", text); a need's "end" text is "" or its failure's first line."""

    started: Callable[[Any], None]
    done: Callable[[Any, Any], None]
    event: Callable[[Any, EventKind, str], None] = _ignore
