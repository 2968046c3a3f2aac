"""What a user sees while the grid runs: a line per cell started and finished, fits as notes.

The executor calls these through `harness.graph.JobCallbacks`; a finished cell passes through the
sink (`harness.recording.CellSink.record`) before it is shown, so a cell shown as done is logged.
"""

from __future__ import annotations

from typing import Callable

from harness.graph import EventKind, JobCallbacks, JobFailed, first_line
from harness.jobs import DetectJob, DetectResult, GenerateJob
from harness.names import cell_name
from harness.progress import GridProgress

Record = Callable[[DetectJob, DetectResult | JobFailed], DetectResult | JobFailed]


class GridDisplay:
    """The callbacks of one run: counts finished and failed cells into `finished` / `failed`."""

    def __init__(self, todo: list[DetectJob], progress: GridProgress, record: Record, shown_metrics: list[str]):
        self.progress, self.record, self.shown = progress, record, shown_metrics
        self.say = progress.write
        self.n = len(todo)
        self.position = {j.id: k for k, j in enumerate(todo, 1)}
        self.announced: set[str] = set()
        self.finished = 0
        self.failed: list[str] = []

    def callbacks(self) -> JobCallbacks:
        return JobCallbacks(self.started, self.done, self.event)

    def started(self, job: DetectJob) -> None:
        if job.id in self.announced:  # a Ray task retried after its worker died
            return
        self.announced.add(job.id)
        self.progress.started(job.id, cell_name(job.key))
        self.say(f"[{self.position[job.id]}/{self.n}] {job.key.describe()}")

    def event(self, job: DetectJob | GenerateJob, kind: EventKind, text: str) -> None:
        if kind == "note":
            self.progress.note(job.id, text)
        elif isinstance(job, GenerateJob):
            name = f"fit {job.generator.key} s{job.data.seed}"
            if kind == "start":
                self.progress.started(job.id, name)
                self.say(f"fit: {job.describe()}")
            elif kind == "end":
                self.progress.finished(job.id, fit=True)
                # "✓"/"✗" lines are cells (what a user counts); a fit's end is a plain note
                self.say(f"  · {name} failed: {text}" if text else f"  · {name} done")

    def done(self, job: DetectJob, result: DetectResult | JobFailed) -> None:
        if job.id not in self.announced:  # e.g. a cell whose fit failed never started
            self.started(job)
        result = self.record(job, result)
        if isinstance(result, JobFailed):
            self.failed.append(f"{job.key.describe()}: {first_line(result.message)}")
            self.say(f"  ✗ {cell_name(job.key)} failed: {first_line(result.message)}")
        else:
            self.finished += 1
            rec = result.record
            shown = ", ".join(f"{k} {v:.3f}" for k, v in rec.metrics.items() if k in self.shown)
            self.say(f"  ✓ {cell_name(job.key)}: {shown} ({rec.seconds:.0f} s)")
        self.progress.finished(job.id, fit=False)
