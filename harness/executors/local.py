"""Every job one after another in this process: today's behaviour, and the reference numbers."""

from __future__ import annotations

from typing import Any, Sequence

from harness.graph import Env, Job, JobCallbacks, failed_input, failure, first_line, needs_of


def _noting(env: Env, job: Job, callbacks: JobCallbacks) -> Env:
    """The job's notes go to the driver's display, as they happen (same process: a direct call)."""
    return env.with_note(lambda msg: callbacks.event(job, "note", msg))


class LocalExecutor:
    """Serial: each target in the order given, its needs right before the first target that needs them."""

    name = "local"

    def threads_per_job(self, requested: int | str | None) -> tuple[int, str] | None:
        return None

    def run(self, context: Any, jobs: Sequence[Job], env: Env, callbacks: JobCallbacks) -> None:
        results: dict[str, Any] = {}  # job id → its result or its `JobFailed`

        def need(job: Job) -> Any:
            """The result of a need, run (and announced) the first time a target asks for it."""
            if job.id in results:
                return results[job.id]
            inputs = [need(n) for n in needs_of(job)]
            if (failed := failed_input(inputs)) is not None:  # not run: it fails with its need's error
                results[job.id] = failed
                callbacks.event(job, "end", first_line(failed.message))
                return failed
            callbacks.event(job, "start", "")
            try:
                results[job.id] = job.run(context, _noting(env, job, callbacks), inputs)
                callbacks.event(job, "end", "")
            except Exception as exc:  # noqa: BLE001 - one bad job must not stop the grid
                results[job.id] = failure(exc)
                callbacks.event(job, "end", first_line(results[job.id].message))
            return results[job.id]

        for job in jobs:
            try:
                inputs = [need(n) for n in needs_of(job)]
                if (failed := failed_input(inputs)) is not None:
                    raise failed
                callbacks.started(job)
                result = job.run(context, _noting(env, job, callbacks), inputs)
            except Exception as exc:  # noqa: BLE001 - recorded by the driver, the grid goes on
                callbacks.done(job, failure(exc))
                continue
            callbacks.done(job, result)
