"""Every job one after another in this process: today's behaviour, and the reference numbers."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.augmented import AugmentedSet
from harness.executors.base import JobCallbacks, failure
from harness.jobs import DetectJob, JobEnv, run_detect, run_generate

if TYPE_CHECKING:
    from harness.config import ExperimentSpec


class LocalExecutor:
    """Serial: a generate job runs right before the first detect job that needs it."""

    name = "local"

    def threads_per_job(self, requested: int | str | None) -> tuple[int, str] | None:
        return None

    def run(self, spec: "ExperimentSpec", jobs: list[DetectJob], env: JobEnv, callbacks: JobCallbacks) -> None:
        generated: dict[str, AugmentedSet | Exception] = {}
        for job in jobs:
            callbacks.started(job)
            try:
                aug = None
                if job.needs is not None:
                    if job.needs.id not in generated:
                        try:
                            generated[job.needs.id] = run_generate(spec, job.needs, env)
                        except Exception as exc:  # noqa: BLE001 - one bad generator must not stop the grid
                            generated[job.needs.id] = exc
                    aug = generated[job.needs.id]
                    if isinstance(aug, Exception):
                        raise aug
                result = run_detect(spec, job, aug, env)
            except Exception as exc:  # noqa: BLE001 - recorded by the driver, the grid goes on
                callbacks.done(job, failure(exc))
                continue
            callbacks.done(job, result)
