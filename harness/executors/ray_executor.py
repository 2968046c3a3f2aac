"""The grid as Ray tasks: one machine's cores, or a cluster of GPU machines (docs/scaling.md).

Every job of the graph (`harness.graph`) is one task that takes the object refs of the jobs it
needs as its arguments, so Ray itself starts a job only once its inputs exist (a detect job once
its augmented set does); we write no scheduler, and nothing here knows what a job does. A task
asks for `cpus_per_job` CPUs and a share of a GPU: `gpus_per_job` when given (``0.25``: four
jobs side by side on one card), else, where the spec's device is cuda, a share sized from the
job's measured peak memory (`gpu_shares`: a `heavy` job, a generator that trains, apart) so
that one card runs a category's cells side by side. Heavy jobs are submitted first
(`harness.graph.heavy_first`). A worker that dies (killed, out of
memory, node lost) has its task retried by Ray (`max_retries`); a job that raises is not
retried (the same seed would raise again) but recorded as a failed cell, as locally.
Jobs write their outputs themselves (shared storage on a cluster); the driver only logs
what comes back to MLflow, so the tracking store has one writer.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from harness.executors.errors import ExecutorError
from harness.graph import (Env, Job, JobCallbacks, JobFailed, failed_input, failure, first_line, heavy_first, in_order,
                           needs_of)

#: how often the driver drains the workers' notes while it waits for results (seconds)
POLL_S = 0.5

#: how often Ray re-runs a task whose worker died before giving up on the cell
MAX_RETRIES = 3

#: peak GPU memory of a job, measured on one H200 (benchmarks/gpu_smoke.py, 256 px, gpu-full,
#: 2026-12-04, docs/scaling.md), rounded up: a generator that trains (DH-Diff from scratch in
#: bf16: 41.8 GiB), and any other job (detector cells 0.5–1.4 GiB with EfficientNet-Lite0; WRN-50
#: is larger, hence the margin)
TRAINING_FIT_GIB, OTHER_JOB_GIB = 48.0, 8.0
#: never more jobs than this on one card by default: they also share its CPUs and copy engines
MAX_JOBS_PER_GPU = 8


def gpu_share(peak_gib: float, card_gib: float) -> float:
    """The fraction of a card a job asks Ray for: 1/k with k jobs of `peak_gib` fitting on the card."""
    k = max(1, min(MAX_JOBS_PER_GPU, int(card_gib // peak_gib)))
    return 1.0 / k


def gpu_shares(device: str, gpus_per_job: float | None) -> tuple[float, float]:
    """(GPU share of a training generator's job, of every other job). `gpus_per_job` fixes both;
    else on CUDA they come from the measured peaks and this machine's card (1 where the driver
    sees no GPU: a cluster's driver), and off CUDA no GPU is asked for."""
    if gpus_per_job is not None:
        return gpus_per_job, gpus_per_job
    if not device.startswith("cuda"):
        return 0.0, 0.0
    import torch

    if not torch.cuda.is_available():
        return 1.0, 1.0
    card = torch.cuda.get_device_properties(torch.device(device)).total_memory / 2**30
    return gpu_share(TRAINING_FIT_GIB, card), gpu_share(OTHER_JOB_GIB, card)


def _enter(env: Env, cwd: str) -> None:
    """Make a worker process look like the driver: same working folder (relative run paths) and threads."""
    import warnings

    from harness.runtime import apply_threads, limit_malloc_arenas

    # the deprecation notices `bench` silences in the driver (harness.cli.main), silenced here too
    warnings.filterwarnings("ignore", category=FutureWarning, module=r"(timm|anomalib)(\..*)?$")
    if os.path.isdir(cwd):
        os.chdir(cwd)
    limit_malloc_arenas()
    apply_threads(env.threads)


class NoteBox:
    """A Ray actor holding the notes workers send, in the order each sent them, until the driver
    takes them all (`RayExecutor.run` does every `POLL_S`). Not ray.util.queue.Queue: its put
    waits for the actor (ray.get), and a task blocked in ray.get lends its CPU to another task,
    so on 2 cores a third job started beside the two running ones."""

    def __init__(self) -> None:
        self.items: list[tuple[str, str, str]] = []

    def put(self, item: tuple[str, str, str]) -> None:
        self.items.append(item)

    def take(self) -> list[tuple[str, str, str]]:
        items, self.items = self.items, []
        return items


@dataclass(frozen=True)
class Relay:
    """A worker's line to the driver's display: (job id, kind, text) sent to the `NoteBox` without
    waiting (an actor runs one caller's calls in order), so notes show as they happen."""

    box: Any  # a NoteBox actor handle, or None: nobody listens
    job_id: str

    def __call__(self, kind: str, text: str = "") -> None:
        if self.box is None:
            return
        try:
            self.box.put.remote((self.job_id, kind, text))
        except Exception:  # noqa: BLE001 - a lost note must never fail the job
            pass

    def env(self, env: Env) -> Env:
        """`env` whose notes travel to the driver."""
        return env.with_note(lambda msg: self("note", msg))


def job_task(context: Any, job: Job, env: Env, cwd: str, events: Any, *inputs: Any) -> Any:
    """One job in a worker: its needs' results arrive as `inputs` (Ray resolved their refs first, so it
    starts only once they exist); a failed need is this job's failure, and it does not run."""
    if (failed := failed_input(inputs)) is not None:
        return failed
    relay = Relay(events, job.id)
    relay("start")
    _enter(env, cwd)
    try:
        return job.run(context, relay.env(env), inputs)
    except Exception as exc:  # noqa: BLE001 - recorded by the driver (a need's: by every job that needs it)
        return failure(exc)


class RayExecutor:
    """`address`: None starts a local Ray sized to this machine; ``auto`` or ``HOST:PORT`` joins a cluster."""

    name = "ray"

    def __init__(self, address: str | None = None, gpus_per_job: float | None = None, cpus_per_job: float = 1,
                 max_retries: int = MAX_RETRIES, num_cpus: int | None = None, num_gpus: float | None = None):
        if cpus_per_job <= 0:
            raise ExecutorError(f"--cpus-per-job: must be > 0, got {cpus_per_job}")
        if gpus_per_job is not None and gpus_per_job < 0:
            raise ExecutorError(f"--gpus-per-job: must be ≥ 0, got {gpus_per_job}")
        self.address = address
        self.gpus_per_job = gpus_per_job
        self.cpus_per_job = cpus_per_job
        self.max_retries = max_retries
        self.num_cpus = num_cpus  # a local instance's size; None = every core
        self.num_gpus = num_gpus  # a local instance's GPUs; None = Ray's count of the visible ones

    def threads_per_job(self, requested: int | str | None) -> tuple[int, str] | None:
        """`auto` means one torch thread per CPU a job holds: jobs side by side must not oversubscribe."""
        if requested not in (None, "auto"):
            return None
        n = max(1, int(self.cpus_per_job))
        return n, f"ray: {n} per job (--cpus-per-job)"

    def _init(self) -> Any:
        try:
            import ray
        except ImportError:
            raise ExecutorError("--executor ray needs Ray: pip install -e \".[ray]\"") from None
        if ray.is_initialized():
            return ray
        if self.address is None:
            # a local instance: Ray warns that it kept its own default (token auth on), a line a user
            # cannot act on. Setting RAY_AUTH_MODE here instead is too late: Ray read its config at
            # import, and its GCS then rejects the driver ("Authentication token is missing")
            import logging

            logging.getLogger("ray._private.authentication.authentication_token_setup").setLevel(logging.ERROR)
        kwargs: dict[str, Any] = {"include_dashboard": False, "log_to_driver": True,
                                  "logging_level": "WARNING", "configure_logging": True}
        if self.address is None:
            from harness.runtime import available_cores

            kwargs["num_cpus"] = self.num_cpus or available_cores()
            if self.num_gpus is not None:
                kwargs["num_gpus"] = self.num_gpus
        try:
            try:
                ray.init(address=self.address, **kwargs)
            except ConnectionError:
                raise
            except Exception:  # noqa: BLE001 - a local start waits 30 s for its raylet; a loaded box may miss that
                if self.address is not None:
                    raise
                ray.shutdown()
                ray.init(**kwargs)
        except ConnectionError as exc:
            raise ExecutorError(f"--address {self.address}: no Ray cluster there ({exc}); "
                                "start one with `ray start --head` or drop --address") from None
        except Exception as exc:  # noqa: BLE001 - e.g. "node timed out during startup" on an overloaded machine
            first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ExecutorError(f"Ray did not start ({first}); run again, or use --executor local") from None
        return ray

    def start(self) -> None:
        """Start (or join) Ray now, before the grid's display: a start takes 10-60 s on a busy box."""
        self._init()

    def run(self, context: Any, jobs: Sequence[Job], env: Env, callbacks: JobCallbacks) -> None:
        ray = self._init()
        heavy_share, job_share = gpu_shares(env.device, self.gpus_per_job)
        options = {"num_cpus": self.cpus_per_job, "max_retries": self.max_retries}
        task = ray.remote(job_task)
        light_task = task.options(**options, num_gpus=job_share)
        # Ray queues tasks per scheduling class (function + resources) and does not keep the
        # submission order across classes: a separate class for the heavy jobs, even at the same
        # share (0 GPUs on a CPU), let every cheap job start before the second DH-Diff fit
        # (quick.yaml: 7 min 41 s instead of ~6 on 2 cores). One class where the shares are equal.
        heavy_task = light_task if heavy_share == job_share else task.options(**options, num_gpus=heavy_share)
        cwd = os.getcwd()
        worker_env = env.for_worker()  # no bars from workers, nothing of the driver's display
        context_ref = ray.put(context)
        events = ray.remote(NoteBox).options(num_cpus=0).remote()  # takes no core from the jobs
        targets = {job.id for job in jobs}
        submitted: dict[str, Any] = {}  # job id → its object ref
        by_ref: dict[Any, Job] = {}
        by_id: dict[str, Job] = {}
        for job in in_order(heavy_first(jobs)):  # Ray starts ready tasks in submission order
            inputs = [submitted[n.id] for n in needs_of(job)]
            run = heavy_task if getattr(job, "heavy", False) else light_task
            ref = run.remote(context_ref, job, worker_env, cwd, events, *inputs)
            submitted[job.id] = ref
            by_ref[ref] = by_id[job.id] = job
        pending = list(by_ref)
        try:
            while pending:
                finished, pending = ray.wait(pending, num_returns=1, timeout=POLL_S)
                _drain(events, by_id, targets, callbacks)
                for ref in finished:
                    job = by_ref[ref]
                    try:
                        result = ray.get(ref)
                    except ray.exceptions.RayError as exc:  # worker died more than max_retries times, ...
                        result = failure(exc)
                    if job.id in targets:
                        callbacks.done(job, result)
                    else:
                        callbacks.event(job, "end", first_line(result.message) if isinstance(result, JobFailed) else "")
        finally:
            needs = [ref for job_id, ref in submitted.items() if job_id not in targets]
            for ref in [*pending, *needs]:  # Ctrl-C / driver error: nothing computes for no one
                ray.cancel(ref, force=True)
            ray.kill(events)


def _drain(events: Any, by_id: dict[str, Job], targets: set[str], callbacks: JobCallbacks) -> None:
    """Hand the notes workers sent since the last look to the driver, in the order they were sent."""
    import ray

    for job_id, kind, text in ray.get(events.take.remote()):
        job = by_id.get(job_id)
        if job is None:
            continue
        if kind == "start" and job_id in targets:
            callbacks.started(job)
        else:
            callbacks.event(job, kind, text)
