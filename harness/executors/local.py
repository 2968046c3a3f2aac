"""Every job one after another in this process: today's behaviour, and the reference numbers."""

from __future__ import annotations

from dataclasses import replace
from typing import TYPE_CHECKING

from harness.augmented import AugmentedSet
from harness.executors.base import JobCallbacks, failure, first_line
from harness.jobs import DetectJob, GenerateJob, JobEnv, run_detect, run_generate

if TYPE_CHECKING:
    from harness.config import ExperimentSpec


def _noting(env: JobEnv, job: DetectJob | GenerateJob, callbacks: JobCallbacks) -> JobEnv:
    """The job's notes go to the driver's display, as they happen (same process: a direct call)."""
    return replace(env, note=lambda msg: callbacks.event(job, "note", msg))


class LocalExecutor:
    """Serial: a generate job runs right before the first detect job that needs it."""

    name = "local"

    def threads_per_job(self, requested: int | str | None) -> tuple[int, str] | None:
        return None

    def run(self, spec: "ExperimentSpec", jobs: list[DetectJob], env: JobEnv, callbacks: JobCallbacks) -> None:
        generated: dict[str, AugmentedSet | Exception] = {}
        for job in jobs:
            try:
                aug = None
                if job.needs is not None:
                    if job.needs.id not in generated:
                        callbacks.event(job.needs, "start", "")
                        try:
                            generated[job.needs.id] = run_generate(spec, job.needs, _noting(env, job.needs, callbacks))
                            callbacks.event(job.needs, "end", "")
                        except Exception as exc:  # noqa: BLE001 - one bad generator must not stop the grid
                            generated[job.needs.id] = exc
                            callbacks.event(job.needs, "end", first_line(failure(exc).message))
                    aug = generated[job.needs.id]
                    if isinstance(aug, Exception):
                        raise aug
                callbacks.started(job)
                result = run_detect(spec, job, aug, _noting(env, job, callbacks))
            except Exception as exc:  # noqa: BLE001 - recorded by the driver, the grid goes on
                callbacks.done(job, failure(exc))
                continue
            callbacks.done(job, result)
