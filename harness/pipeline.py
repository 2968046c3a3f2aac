"""The grid runner: datasets × categories × seeds × generators × detectors.

Per (dataset, category, seed): split the real anomalies (few-shot generator-train vs
held-out test), then per generator fit → sample → write the augmented set, then per
detector train → predict on the test role only → metrics → MLflow → cell record.
One-class detectors ignore generated pairs, so they run once per (category, seed).

Leakage is prevented by construction: generators only ever receive rows whose role is
``generator_train`` (and normal ``detector_train`` images as canvases), detectors train
on normal ``detector_train`` images plus generated pairs, and nothing selects on ``test``.
"""

from __future__ import annotations

import shutil
import time
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from detectors.base import Detector, TrainSet
from generators.base import AnomalyPair, Generator
from harness.augmented import AugmentedSet, folder_name, load_augmented, write_augmented
from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore, write_json_atomic
from harness.config import DatasetSpec, ExperimentSpec, PluginSpec, fingerprint, spec_to_dict
from harness.data.io import load_image, load_mask
from harness.data.split import few_shot_split, rows_for, write_split
from harness.data.table import DatasetError
from harness.plugin import RunContext
from harness.registry import DATASETS, DETECTORS, GENERATORS


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
            table = adapter.load(cat)
            fp = fingerprint(ds.model_dump(mode="json"), cat, spec.image_size, spec.split.model_dump())
            slices.append(_Slice(ds, cat, table, fp))
    return slices


def _generator_fp(spec: ExperimentSpec, sl: _Slice, gen: PluginSpec, seed: int) -> str:
    return fingerprint(sl.fp, gen.model_dump(), spec.profile, seed, spec.generation.model_dump())


def _cell_key(spec: ExperimentSpec, sl: _Slice, gen: PluginSpec | None, det: PluginSpec, seed: int) -> CellKey:
    upstream = _generator_fp(spec, sl, gen, seed) if gen is not None else fingerprint(sl.fp, seed)
    fp = fingerprint(upstream, det.model_dump(), spec.profile)
    return CellKey(sl.dataset.name, sl.category, gen.key if gen is not None else ONE_CLASS, det.key, seed, fp)


def plan_cells(spec: ExperimentSpec, slices: list[_Slice]) -> list[tuple[_Slice, int, PluginSpec | None, PluginSpec, CellKey]]:
    """Every cell of the grid, in run order (one-class references first per seed)."""
    cells = []
    for sl in slices:
        for seed in spec.seeds:
            for det in spec.detectors:
                if not DETECTORS.get(det.name).uses_anomalies:
                    cells.append((sl, seed, None, det, _cell_key(spec, sl, None, det, seed)))
            for gen in spec.generators:
                for det in spec.detectors:
                    if DETECTORS.get(det.name).uses_anomalies:
                        cells.append((sl, seed, gen, det, _cell_key(spec, sl, gen, det, seed)))
    return cells


class _SeedData:
    """Images of one (slice, seed), loaded once and only when a cell needs them."""

    def __init__(self, table: pd.DataFrame, image_size: int):
        self.table = table
        self.size = image_size
        self._normals: list[np.ndarray] | None = None
        self._pairs: list[AnomalyPair] | None = None

    @property
    def normal_rows(self) -> pd.DataFrame:
        return rows_for(self.table, "detector_train")

    @property
    def normals(self) -> list[np.ndarray]:
        if self._normals is None:
            self._normals = [load_image(p, self.size) for p in self.normal_rows["image_path"]]
        return self._normals

    @property
    def generator_train_rows(self) -> pd.DataFrame:
        return rows_for(self.table, "generator_train")

    @property
    def generator_pairs(self) -> list[AnomalyPair]:
        if self._pairs is None:
            self._pairs = [
                AnomalyPair(load_image(r.image_path, self.size), load_mask(r.mask_paths, self.size, like=r.image_path),
                            r.defect_type)
                for r in self.generator_train_rows.itertuples()
            ]
        return self._pairs

    @property
    def test(self) -> pd.DataFrame:
        return rows_for(self.table, "test").reset_index(drop=True)

    @property
    def validation(self) -> pd.DataFrame:
        """The validation fold: real anomalies no generator saw and validation normals (never test)."""
        return rows_for(self.table, "validation")

    @property
    def validation_paths(self) -> list[Path]:
        v = self.validation
        return [Path(p) for p in v.loc[v["label"] == 0, "image_path"]]


def sample_pairs(generator: Generator, data: _SeedData, n: int, seed: int) -> list[AnomalyPair]:
    """n pairs in total; generators that condition on the defect type get an even share per type."""
    if not generator.conditions_on_defect_type:
        return generator.sample(n, normal_images=data.normals, seed=seed)
    types = sorted(set(data.generator_train_rows["defect_type"]))
    if not types:
        raise ValueError(f"{generator.name}: the generator-train split has no real anomalies to condition on")
    pairs: list[AnomalyPair] = []
    for k, t in enumerate(types):
        share = n // len(types) + (1 if k < n % len(types) else 0)
        if share:
            pairs += generator.sample(share, normal_images=data.normals, defect_type=t, seed=seed * 1009 + k)
    return pairs


def build_augmented(spec: ExperimentSpec, sl: _Slice, gen_spec: PluginSpec, seed: int, data: _SeedData,
                    root: Path, device: str, note: Callable[[str], None], show_progress: bool) -> AugmentedSet:
    """Fit the generator on generator-train data only, sample, and write the set to disk."""
    existing = load_augmented(root)
    if existing is not None:
        return existing
    cls = GENERATORS.get(gen_spec.name)
    ctx = RunContext(sl.category, spec.image_size, spec.profile, device, root.parent / f"{root.name}.work", show_progress)
    generator: Generator = cls(gen_spec.params, ctx)
    real = data.generator_pairs if (cls.needs_real_anomalies or cls.conditions_on_defect_type) else []
    note(f"fitting {gen_spec.key} on {len(data.normals)} normal images + {len(real)} real anomalies")
    generator.fit(data.normals, real, seed=seed)
    note(f"sampling {spec.generation.n_samples} pairs from {gen_spec.key}")
    pairs = sample_pairs(generator, data, spec.generation.n_samples, seed)
    quality: dict[str, Any] = {}
    grids = sample_grids(pairs, per_type=cls.conditions_on_defect_type)
    if pairs:
        if spec.generation.quality_metrics:
            note(f"generation quality of {gen_spec.key}")
            quality = _quality(spec, pairs, data.generator_pairs, device)
    info = {"generator": gen_spec.name, "label": gen_spec.key, "params": generator.params.model_dump(mode="json"),
            "seed": seed, "category": sl.category, "dataset": sl.dataset.name, "quality": quality}
    aug = write_augmented(root, normal_images=data.normals, normal_sources=list(data.normal_rows["image_path"]),
                          pairs=pairs, generator_train_sources=list(data.generator_train_rows["image_path"]) if real else [],
                          info=info, grids=grids)
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    return aug


def sample_grids(pairs: list[AnomalyPair], *, per_type: bool, rows: int = 8) -> dict[str, np.ndarray]:
    """``grid``: rows taken in turn from each defect type; with `per_type`, one ``grid_<type>`` each."""
    if not pairs:
        return {}
    from harness.sample_grid import sample_grid

    by_type: dict[str, list[AnomalyPair]] = {}
    for p in pairs:
        by_type.setdefault(p.defect_type, []).append(p)
    mixed = [group[i] for i in range(rows) for group in by_type.values() if i < len(group)][:rows]
    grids = {"grid": sample_grid(mixed, max_rows=rows)}
    if per_type:
        for t, group in by_type.items():
            grids[f"grid_{folder_name(t)}"] = sample_grid(group[:rows], max_rows=rows)
    return grids


def _quality(spec: ExperimentSpec, pairs: list[AnomalyPair], real: list[AnomalyPair], device: str) -> dict[str, Any]:
    from harness.metrics.generation import generation_metrics

    g = spec.generation
    results = generation_metrics(pairs, real, weights_dir=spec.weights_dir, device=device,
                                 ic_lpips_net=g.ic_lpips_net, ic_lpips_size=g.ic_lpips_size, ic_lpips_cap=g.ic_lpips_cap)
    return {k: {"value": r.value, "unavailable": r.unavailable, "params": r.params} for k, r in results.items()}


def run_detector(spec: ExperimentSpec, det_spec: PluginSpec, train: TrainSet, test: pd.DataFrame, category: str,
                 seed: int, work_dir: Path, device: str, show_progress: bool,
                 cache_dir: Path | None = None) -> tuple[dict[str, float], list[dict[str, float]]]:
    """Fit on `train`, score `test`: (test metrics, the detector's training curve)."""
    from harness.metrics.detection import compute_detection_metrics

    ctx = RunContext(category, spec.image_size, spec.profile, device, work_dir, show_progress, cache_dir)
    detector: Detector = DETECTORS.get(det_spec.name)(det_spec.params, ctx, seed=seed)
    detector.fit(train)
    preds = detector.predict(test)
    if len(preds.image_scores) != len(test):
        raise RuntimeError(f"{det_spec.name}: {len(preds.image_scores)} scores for {len(test)} test images")
    return compute_detection_metrics(test, preds, image_size=spec.image_size), list(detector.training_curve)


def run_experiment(spec: ExperimentSpec, *, show_progress: bool = True, echo: Callable[[str], None] = print) -> GridSummary:
    """Run every cell not already recorded; a re-run resumes where the last one stopped."""
    t0 = time.time()
    slices = load_tables(spec)  # validates all data before anything is written
    cells = plan_cells(spec, slices)
    run_dir = spec.run_dir
    store = CellStore(run_dir)
    todo = [c for c in cells if not store.done(c[4])]
    summary = GridSummary(total=len(cells), resumed=len(cells) - len(todo))
    if summary.resumed:
        echo(f"resuming: {summary.resumed}/{len(cells)} cells already done in {run_dir}")
    if not todo:
        summary.seconds = time.time() - t0
        return summary
    device = spec.resolved_device()
    run_dir.mkdir(parents=True, exist_ok=True)
    write_json_atomic(run_dir / "spec.json", spec_to_dict(spec))
    from harness.tracking import Tracker

    tracker = Tracker(spec.mlflow_uri, spec.name, run_dir / "mlartifacts")
    bar = tqdm(total=len(todo), desc="grid", unit="cell", disable=not show_progress, dynamic_ncols=True)

    def note(msg: str) -> None:
        bar.set_postfix_str(msg[:60])
        (bar.write if show_progress else echo)(f"  · {msg}")

    seed_data: dict[tuple[str, int], _SeedData] = {}
    augmented: dict[str, AugmentedSet | Exception] = {}
    try:
        for position, (sl, seed, gen, det, key) in enumerate(todo, 1):
            sd_key = (sl.fp, seed)
            if sd_key not in seed_data:
                split = few_shot_split(sl.table, fraction=spec.split.generator_fraction, seed=seed,
                                       validation_fraction=spec.split.validation_fraction,
                                       validation_normal_fraction=spec.split.validation_normal_fraction)
                write_split(split, run_dir / "splits" / sl.dataset.name / sl.category / f"seed{seed}.json")
                seed_data = {sd_key: _SeedData(split, spec.image_size)}  # keep one slice's images in memory
            data = seed_data[sd_key]
            (bar.write if show_progress else echo)(f"[{position}/{len(todo)}] {key.describe()}")
            started = time.time()
            try:
                if gen is None:
                    aug = None
                    train = TrainSet(normal=[Path(p) for p in data.normal_rows["image_path"]],
                                     validation_normal=data.validation_paths, validation=data.validation)
                else:
                    gfp = _generator_fp(spec, sl, gen, seed)
                    if gfp not in augmented:
                        root = run_dir / "augmented" / sl.dataset.name / sl.category / gen.key / f"seed{seed}-{gfp}"
                        try:
                            augmented[gfp] = build_augmented(spec, sl, gen, seed, data, root, device, note, show_progress)
                        except Exception as exc:  # noqa: BLE001 - one bad generator must not stop the grid
                            augmented[gfp] = exc
                    aug = augmented[gfp]
                    if isinstance(aug, Exception):
                        raise aug
                    train = aug.train_set(data.validation_paths, data.validation)
                note(f"training {det.key} on {len(train.normal)} normal + {len(train.anomalous)} generated")
                work = run_dir / "work" / key.slug
                metrics, curve = run_detector(spec, det, train, data.test, sl.category, seed, work, device, show_progress,
                                              cache_dir=run_dir / "features")
                shutil.rmtree(work, ignore_errors=True)
                record = CellRecord(
                    key=key, metrics=metrics, generation=(aug.manifest.get("quality", {}) if aug else {}),
                    n_generated=aug.n_generated if aug else 0, seconds=round(time.time() - started, 2),
                    augmented_manifest=str(aug.root / "manifest.json") if aug else None, curve=curve,
                )
                params = {"generator": (gen.model_dump() if gen else {"name": ONE_CLASS}), "detector": det.model_dump(),
                          "dataset": sl.dataset.model_dump(mode="json"), "category": sl.category,
                          "image_size": spec.image_size, "profile": spec.profile, "device": device,
                          "split.generator_fraction": spec.split.generator_fraction}
                artifacts = [*aug.grid_files, aug.root / "manifest.json"] if aug else []
                record.mlflow_run_id = tracker.log_cell(record, params, artifacts)
                store.save(record)
                summary.finished += 1
                shown = ", ".join(f"{k} {v:.3f}" for k, v in metrics.items() if k in spec.report.metrics)
                (bar.write if show_progress else echo)(f"  ✓ {shown} ({record.seconds:.0f} s)")
            except Exception as exc:  # noqa: BLE001 - record, go on, report at the end
                msg = f"{type(exc).__name__}: {exc}"
                store.save_failure(key, msg + "\n" + traceback.format_exc())
                summary.failed.append(f"{key.describe()}: {msg.splitlines()[0] if msg else ''}")
                (bar.write if show_progress else echo)(f"  ✗ failed: {msg.splitlines()[0]}")
            bar.update(1)
    finally:
        bar.close()
    summary.seconds = time.time() - t0
    return summary
