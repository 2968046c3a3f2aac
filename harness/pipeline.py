"""The grid runner: datasets × categories × seeds × generators × detectors, as plan → executor → summary.

`plan` turns a spec into typed jobs (`harness.jobs`): per (dataset, category, seed) one
few-shot split (real anomalies: generator-train vs held-out test), per generator one
`GenerateJob`, per cell one `DetectJob` that needs it. One-class detectors ignore
generated pairs, so their cells run once per (category, seed) and need no generate job.
An executor (`harness.executors`: local or Ray) runs the jobs not already recorded; this
driver holds the output folder's lock, writes the splits, and logs every record that
comes back to MLflow.
"""

from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pandas as pd

from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore, write_json_atomic
from harness.config import DatasetSpec, ExperimentSpec, PluginSpec, fingerprint, spec_to_dict
from harness.core.registry import DATASETS, DETECTORS, GENERATORS
from harness.data.split import few_shot_split, write_split
from harness.data.fingerprint import verify_table
from harness.data.table import DatasetError
from harness.executors.base import JobCallbacks, failure, first_line, make_executor
from harness.jobs import DetectJob, DetectResult, GenerateJob, JobEnv, JobFailed, SeedSplit, artifacts_of, mlflow_params
from harness.fsio import record_failure, require_writable
from harness.identity import grid_entries, plugin_identity, read_grid, superseded_summary, write_grid
from harness.lock import run_lock
from harness.names import cell_name
from harness.paths import inside, plain_name
from harness.progress import GridProgress, phase

if TYPE_CHECKING:
    from harness.executors import Executor


@dataclass
class GridSummary:
    total: int = 0
    resumed: int = 0
    finished: int = 0
    failed: list[str] = field(default_factory=list)
    seconds: float = 0.0


@dataclass
class _Slice:
    """One (dataset, category) with its sample table."""

    dataset: DatasetSpec
    category: str
    table: pd.DataFrame
    fp: str


def load_tables(spec: ExperimentSpec) -> list[_Slice]:
    """Load and validate every (dataset, category) table before anything is written."""
    slices = []
    for ds in spec.datasets:
        adapter = DATASETS.get(ds.name)(ds.root, ds.params, image_size=spec.image_size)
        available = adapter.categories()
        wanted = ds.categories or available
        unknown = [c for c in wanted if c not in available]
        if unknown:
            where = ds.root or ds.name
            raise DatasetError(f"{where}: no category {unknown} (found: {', '.join(available) or 'none'}); fix 'categories'")
        for cat in wanted:
            plain_name(cat, f"{ds.root or ds.name}: category")  # it names output folders
            # every file decoded once, and what the files hold is part of every cell's identity
            table, data_fp = verify_table(adapter.load(cat), f"{ds.root or ds.name}/{cat}", empty_masks=ds.empty_masks,
                                          mask_threshold=ds.mask_threshold, duplicates=ds.duplicates)
            fp = fingerprint(ds.model_dump(mode="json"), cat, spec.image_size, spec.split.model_dump(), data_fp)
            slices.append(_Slice(ds, cat, table, fp))
    return slices


def _generator_fp(spec: ExperimentSpec, slice_fp: str, gen: PluginSpec, seed: int) -> str:
    # the set a generator writes depends on how many it samples, not on the axis cut from it
    generation = {**spec.generation.model_dump(), "n_samples": spec.generation.pool}
    return fingerprint(slice_fp, gen.model_dump(), spec.profile, seed, generation,
                       plugin_identity(GENERATORS, gen, spec.profile))


def _cell_key(spec: ExperimentSpec, sl: _Slice, gen: PluginSpec | None, det: PluginSpec, seed: int,
              n_synthetic: int | None = None) -> CellKey:
    upstream = _generator_fp(spec, sl.fp, gen, seed) if gen is not None else fingerprint(sl.fp, seed)
    fp = fingerprint(upstream, det.model_dump(), spec.profile, *([n_synthetic] if n_synthetic else []),
                     plugin_identity(DETECTORS, det, spec.profile))
    return CellKey(sl.dataset.name, sl.category, gen.key if gen is not None else ONE_CLASS, det.key, seed, fp,
                   n_synthetic)


def plan(spec: ExperimentSpec, slices: list[_Slice]) -> list[DetectJob]:
    """Every cell of the grid as a detect job, in run order (one-class references first per seed).

    Detect jobs of one (slice, seed, generator) share one `GenerateJob` object.
    """
    jobs: list[DetectJob] = []
    for sl in slices:
        for seed in spec.seeds:
            split = few_shot_split(sl.table, fraction=spec.split.generator_fraction, seed=seed,
                                   validation_fraction=spec.split.validation_fraction,
                                   validation_normal_fraction=spec.split.validation_normal_fraction)
            data = SeedSplit(sl.dataset, sl.category, sl.fp, seed, split)
            for det in spec.detectors:
                if not DETECTORS.get(det.name).uses_anomalies:
                    jobs.append(DetectJob(data, None, det, _cell_key(spec, sl, None, det, seed), None))
            for gen in spec.generators:
                gfp = _generator_fp(spec, sl.fp, gen, seed)
                root = inside(spec.run_dir, Path("augmented", sl.dataset.name, sl.category, gen.key, f"seed{seed}-{gfp}"),
                              "augmented set")
                gen_job = GenerateJob(data, gen, gfp, root)
                # `none` makes no pair: one cell, whatever the ratio axis
                counts = [None] if gen.name == "none" else spec.generation.axis
                for det in spec.detectors:
                    if DETECTORS.get(det.name).uses_anomalies:
                        for n in counts:
                            jobs.append(DetectJob(data, gen, det, _cell_key(spec, sl, gen, det, seed, n), gen_job, n))
    return jobs


def _record_grid(spec: ExperimentSpec, jobs: list[DetectJob], store: CellStore, echo: Callable[[str], None]) -> None:
    """Write the spec's resolved grid (what a report shows) and say how many older cells it supersedes."""
    grid = grid_entries(spec, jobs)
    previous = read_grid(spec.run_dir)
    lines = superseded_summary(store.records(), grid, previous)
    if lines:
        echo(f"{spec.run_dir}: cells of an older configuration kept on disk, left out of the report "
             f"(`bench report --all` shows them): " + "; ".join(lines))
    if previous != grid:
        write_grid(spec.run_dir, grid)


def _threads() -> int:
    import torch

    return torch.get_num_threads()


def run_experiment(spec: ExperimentSpec, *, show_progress: bool = True, echo: Callable[[str], None] = print,
                   executor: "Executor | None" = None) -> GridSummary:
    """Run every cell not already recorded; a re-run resumes where the last one stopped."""
    t0 = time.time()
    executor = executor or make_executor("local")
    device = spec.resolved_device()  # decided once, for every job; a missing GPU fails before any file
    with phase(f"checking data: {', '.join(d.root and str(d.root) or d.name for d in spec.datasets)}",
               enabled=show_progress):
        slices = load_tables(spec)  # validates all data before anything is written
    jobs = plan(spec, slices)
    run_dir = spec.run_dir
    store = CellStore(run_dir)
    require_writable(run_dir)  # a read-only or full disk is one line now, not a traceback mid-grid
    with run_lock(run_dir, warn=echo):
        todo = [j for j in jobs if not store.done(j.key)]
        summary = GridSummary(total=len(jobs), resumed=len(jobs) - len(todo))
        for line in store.corrupt_lines():
            echo(line)
        if summary.resumed:
            echo(f"resuming: {summary.resumed}/{len(jobs)} cells already done in {run_dir}")
        _record_grid(spec, jobs, store, echo)
        earlier = [(j, store.load(j.key)) for j in jobs if store.done(j.key)]
        from harness.tracking import store_missing

        lost = store_missing(spec.mlflow_uri)
        unlogged = [(j, r) for j, r in earlier if r.mlflow_run_id is None or lost]
        if lost and unlogged:
            echo(f"{spec.mlflow_uri}: the MLflow store is missing; re-creating it and logging the "
                 f"{len(unlogged)} finished cell(s) again")
        if not todo and not unlogged:
            summary.seconds = time.time() - t0
            return summary
        from harness.tracking import Tracker

        with phase(f"MLflow store: {spec.mlflow_uri}", enabled=show_progress):
            # the store first: a dead server or a file that is not a database stops the run before its files
            tracker = Tracker(spec.mlflow_uri, spec.name, run_dir / "mlartifacts", spec.description)
            tracker.start_grid(run_dir, spec.name, spec_to_dict(spec), len(jobs))
        write_json_atomic(run_dir / "spec.json", spec_to_dict(spec))
        for data in {id(j.data): j.data for j in todo}.values():
            write_split(data.split, inside(run_dir, data.split_file, "split file"))
        known = tracker.run_ids()  # records whose run the store lacks (an emptied or replaced store) are logged again
        unlogged += [(j, r) for j, r in earlier if r.mlflow_run_id and not lost and r.mlflow_run_id not in known]
        for job, record in unlogged:  # finished by a run whose driver died before logging them
            record.mlflow_run_id = tracker.log_cell(record, mlflow_params(spec, job, device), artifacts_of(record))
            store.save(record)
            echo(f"logged to MLflow: {job.key.describe()} (finished by an earlier run)")
        if not todo:
            tracker.finish_grid(failed=0)
            summary.seconds = time.time() - t0
            return summary

        fit_jobs = {j.needs.id: j.needs for j in todo if j.needs is not None}
        progress = GridProgress(len(fit_jobs), len(todo), enabled=show_progress, echo=echo)
        say = progress.write
        position = {j.id: k for k, j in enumerate(todo, 1)}
        announced: set[str] = set()

        def started(job: DetectJob) -> None:
            if job.id in announced:  # a Ray task retried after its worker died
                return
            announced.add(job.id)
            progress.started(job.id, cell_name(job.key))
            say(f"[{position[job.id]}/{len(todo)}] {job.key.describe()}")

        def event(job: DetectJob | GenerateJob, kind: str, text: str) -> None:
            if kind == "note":
                progress.note(job.id, text)
            elif isinstance(job, GenerateJob):
                if kind == "start":
                    progress.started(job.id, f"fit {job.generator.key} s{job.data.seed}")
                    say(f"fit: {job.describe()}")
                elif kind == "end":
                    progress.finished(job.id, fit=True)
                    # "✓"/"✗" lines are cells (what a user counts); a fit's end is a plain note
                    name = f"fit {job.generator.key} s{job.data.seed}"
                    say(f"  · {name} failed: {text}" if text else f"  · {name} done")

        def done(job: DetectJob, result: DetectResult | JobFailed) -> None:
            if job.id not in announced:  # e.g. a cell whose fit failed never started
                started(job)
            if isinstance(result, DetectResult):
                try:
                    result.record.mlflow_run_id = tracker.log_cell(result.record, result.params, result.artifacts)
                    store.save(result.record)
                except Exception as exc:  # noqa: BLE001 - the record is on disk; a re-run logs it
                    result = failure(exc)
            if isinstance(result, JobFailed):
                record_failure(run_dir, result.message, lambda: store.save_failure(job.key, result.details))
                summary.failed.append(f"{job.key.describe()}: {first_line(result.message)}")
                say(f"  ✗ {cell_name(job.key)} failed: {first_line(result.message)}")
            else:
                summary.finished += 1
                rec: CellRecord = result.record
                shown = ", ".join(f"{k} {v:.3f}" for k, v in rec.metrics.items() if k in spec.report.metrics)
                say(f"  ✓ {cell_name(job.key)}: {shown} ({rec.seconds:.0f} s)")
            progress.finished(job.id, fit=False)

        threads = _threads()
        # jobs draw no bars of their own: the grid's display shows each running job with its clock
        # and notes, the same on every executor (a plug-in's bar would tear the grid's apart)
        env = JobEnv(run_dir, device, threads, False, lambda msg: progress.note("", msg))
        start = getattr(executor, "start", None)
        if start is not None:
            with phase(f"starting {executor.name}", enabled=show_progress):
                start()
        with progress:
            executor.run(spec, todo, env, JobCallbacks(started, done, event))
        # (interrupted, the parent stays RUNNING, and the next run's tracker marks it KILLED)
        tracker.finish_grid(failed=len(summary.failed))
    summary.seconds = time.time() - t0
    return summary
