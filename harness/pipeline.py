"""The grid runner: datasets × categories × seeds × generators × detectors, as plan → execute → record.

`plan` turns a spec into typed jobs (`harness.jobs`): per (dataset, category, seed) one
few-shot split (real anomalies: generator-train vs held-out test), per generator one
`GenerateJob`, per cell one `DetectJob` that needs it. One-class detectors ignore
generated pairs, so their cells run once per (category, seed) and need no generate job; a
generator that makes no pair (`Generator.makes_pairs`, the baseline) gets one cell whatever the
ratio axis. An executor (`harness.executors`: local or Ray) runs that job graph
(`harness.graph`) for the cells not already recorded; each finished cell goes to the sink
(`harness.recording`: cell store + MLflow) and is shown (`harness.run_display`). This driver
holds the output folder's lock and writes the spec and the splits the jobs read.
"""

from __future__ import annotations

import time
from pathlib import Path
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Callable

import pandas as pd

from harness.cells import ONE_CLASS, CellKey, CellStore, write_json_atomic
from harness.config import DatasetSpec, ExperimentSpec, PluginSpec, fingerprint, spec_to_dict
from harness.core.registry import DATASETS, DETECTORS, GENERATORS
from harness.data.split import few_shot_split, write_split
from harness.data.fingerprint import verify_table
from harness.data.table import DatasetError
from harness.executors.base import make_executor
from harness.jobs import DetectJob, GenerateJob, JobEnv, SeedSplit
from harness.fsio import require_writable
from harness.identity import grid_entries, plugin_identity, read_grid, superseded_summary, write_grid
from harness.lock import run_lock
from harness.paths import inside, plain_name
from harness.progress import GridProgress, phase
from harness.recording import CellSink
from harness.run_display import GridDisplay

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
                # a generator that makes no pair (the baseline): one cell, whatever the ratio axis
                counts = spec.generation.axis if GENERATORS.get(gen.name).makes_pairs else [None]
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
    store = CellStore(spec.run_dir)
    require_writable(spec.run_dir)  # a read-only or full disk is one line now, not a traceback mid-grid
    with run_lock(spec.run_dir, warn=echo):
        todo = [j for j in jobs if not store.done(j.key)]
        summary = GridSummary(total=len(jobs), resumed=len(jobs) - len(todo))
        _announce(spec, jobs, store, summary, echo)
        sink = CellSink(spec, store, device, echo)
        earlier = [(j, store.load(j.key)) for j in jobs if store.done(j.key)]
        unlogged = sink.unlogged(earlier)
        if todo or unlogged:
            with phase(f"MLflow store: {spec.mlflow_uri}", enabled=show_progress):
                sink.open(len(jobs))  # the store first: a dead server stops the run before its files
            _write_inputs(spec, todo)
            sink.catch_up(earlier, unlogged)
            if todo:
                _execute(spec, executor, todo, sink, summary, device, show_progress=show_progress, echo=echo)
            sink.close(failed=len(summary.failed))
    summary.seconds = time.time() - t0
    return summary


def _announce(spec: ExperimentSpec, jobs: list[DetectJob], store: CellStore, summary: GridSummary,
              echo: Callable[[str], None]) -> None:
    """Say what the run folder holds already (corrupt records, cells to resume) and record the grid."""
    for line in store.corrupt_lines():
        echo(line)
    if summary.resumed:
        echo(f"resuming: {summary.resumed}/{len(jobs)} cells already done in {spec.run_dir}")
    _record_grid(spec, jobs, store, echo)


def _write_inputs(spec: ExperimentSpec, todo: list[DetectJob]) -> None:
    """The resolved spec and the splits the jobs to run read (what a reader checks a cell against)."""
    write_json_atomic(spec.run_dir / "spec.json", spec_to_dict(spec))
    for data in {id(j.data): j.data for j in todo}.values():
        write_split(data.split, inside(spec.run_dir, data.split_file, "split file"))


def _execute(spec: ExperimentSpec, executor: "Executor", todo: list[DetectJob], sink: CellSink,
             summary: GridSummary, device: str, *, show_progress: bool, echo: Callable[[str], None]) -> None:
    """Run the jobs on `executor` behind the grid's display; every finished cell goes through `sink`."""
    n_fits = len({j.needs.id for j in todo if j.needs is not None})
    progress = GridProgress(n_fits, len(todo), enabled=show_progress, echo=echo)
    display = GridDisplay(todo, progress, sink.record, list(spec.report.metrics))
    # jobs draw no bars of their own: the grid's display shows each running job with its clock
    # and notes, the same on every executor (a plug-in's bar would tear the grid's apart)
    env = JobEnv(spec.run_dir, device, _threads(), False, lambda msg: progress.note("", msg))
    start = getattr(executor, "start", None)
    if start is not None:
        with phase(f"starting {executor.name}", enabled=show_progress):
            start()
    try:
        with progress:
            executor.run(spec, todo, env, display.callbacks())
    finally:
        summary.finished += display.finished
        summary.failed += display.failed
