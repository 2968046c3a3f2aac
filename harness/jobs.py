"""The grid's two kinds of job, and what running one means.

Both are `harness.graph.Job`s: a `DetectJob` `needs` its `GenerateJob` (or nothing, for a
one-class detector), and `run` hands the generate job's result (its augmented set) to the detect
job, so an executor runs them in dependency order without knowing what either does.

A `GenerateJob` fits one generator on one (dataset, category, seed) and writes its
augmented set to disk; a `DetectJob` trains one detector on that set (or on normals
only, for one-class detectors) and writes one cell record. Each is a plain function
of the spec and the job (`run_generate`, `run_detect`), writes only atomically, and
skips what is already on disk, so any executor (`harness.executors`) may run it in any
process, on any machine that sees the run folder, and a re-run resumes.

Leakage is prevented by construction: generators only ever receive rows whose role is
``generator_train`` (and normal ``detector_train`` images as canvases), detectors train
on normal ``detector_train`` images plus generated pairs, and nothing selects on ``test``.
MLflow logging is not a job's business: the driver logs each record it gets back
(`harness.tracking`), so one process writes the tracking store.
"""

from __future__ import annotations

import shutil
import sys
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, ClassVar, Sequence

import numpy as np
import pandas as pd

from harness.augmented import AugmentedSet, by_defect_type, folder_name, in_turn, verified_augmented, write_augmented
from harness.cells import CellKey, CellRecord, CellStore
from harness.config import DatasetSpec, ExperimentSpec, PluginSpec
from harness.cost import generator_cost, timed
from harness.core.detector import Detector, TrainSet
from harness.core.generator import AnomalyPair, Generator
from harness.core.plugin import RunContext
from harness.core.registry import DETECTORS, GENERATORS
from harness.data.io import load_image, load_mask
from harness.data.split import rows_for
from harness.graph import JobFailed

__all__ = ["DetectJob", "DetectResult", "GenerateJob", "JobEnv", "JobFailed", "SeedSplit", "artifacts_of",
           "mlflow_params", "run_detect", "run_generate", "sample_pairs"]

Note = Callable[[str], None]


@dataclass(frozen=True, eq=False)
class SeedSplit:
    """One (dataset, category) under one seed's few-shot split: all a job knows of its data."""

    dataset: DatasetSpec
    category: str
    fp: str  # fingerprint of the slice (dataset settings, category, image size, split settings)
    seed: int
    split: pd.DataFrame  # the sample table with its ``role`` column

    @property
    def split_file(self) -> Path:
        return Path("splits") / self.dataset.name / self.category / f"seed{self.seed}.json"


@dataclass(frozen=True, eq=False)
class GenerateJob:
    """Fit `generator` on `data`'s generator-train part and write the augmented set at `root`."""

    data: SeedSplit
    generator: PluginSpec
    fingerprint: str
    root: Path  # absolute: <run_dir>/augmented/<dataset>/<category>/<generator>/seed<k>-<fp>

    @property
    def id(self) -> str:
        return f"generate:{self.root}"

    @property
    def needs(self) -> None:
        """Nothing: a generator fits on the slice's split, which the driver writes before any job."""
        return None

    def describe(self) -> str:
        return f"{self.data.dataset.name}/{self.data.category} · {self.generator.key} · seed {self.data.seed}"

    @property
    def heavy(self) -> bool:
        """A generator that trains (minutes, a GPU's memory): executors start it early and size it apart."""
        try:
            return bool(GENERATORS.get(self.generator.name).needs_training)
        except Exception:  # noqa: BLE001 - an unknown name fails in its own job, with its own message
            return False

    def run(self, context: ExperimentSpec, env: "JobEnv", inputs: Sequence[Any]) -> AugmentedSet:
        return run_generate(context, self, env)


@dataclass(frozen=True, eq=False)
class DetectJob:
    """Train `detector` on the set `needs` writes (or on normals: one-class) and record cell `key`."""

    data: SeedSplit
    generator: PluginSpec | None  # None: a one-class detector, which sees no generated pair
    detector: PluginSpec
    key: CellKey
    needs: GenerateJob | None
    #: train on this many of the generated pairs (a stratified subset; the ratio axis); None = all
    n_synthetic: int | None = None

    heavy: ClassVar[bool] = False

    @property
    def id(self) -> str:
        return f"detect:{self.key.slug}"

    def run(self, context: ExperimentSpec, env: "JobEnv", inputs: Sequence[Any]) -> "DetectResult":
        return run_detect(context, self, inputs[0] if inputs else None, env)


@dataclass(frozen=True)
class JobEnv:
    """How jobs run in this process: resolved once by the driver, the same in every worker."""

    run_dir: Path  # absolute
    device: str
    threads: int
    show_progress: bool = False
    note: Note = field(default=lambda msg: None)
    #: what the user must see even without progress output (an artifact that failed its check)
    warn: Note = field(default=lambda msg: print(f"warning: {msg}", file=sys.stderr))

    def with_note(self, note: Note) -> "JobEnv":
        return replace(self, note=note)

    def for_worker(self) -> "JobEnv":
        """What a Ray worker gets: no bars of its own, no note into the driver's display (not picklable)."""
        return JobEnv(self.run_dir, self.device, self.threads, show_progress=False)


@dataclass
class DetectResult:
    """What a detect job hands back to the driver: its record (already on disk) and what MLflow gets."""

    record: CellRecord
    params: dict[str, Any]
    artifacts: list[Path]


class _SeedData:
    """Images of one (slice, seed), loaded once and only when a job needs them."""

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


_loaded: dict[tuple[str, int], _SeedData] = {}


def seed_data(data: SeedSplit, image_size: int) -> _SeedData:
    """The images of `data`, kept for the next job of the same slice and seed (one slice in memory)."""
    key = (data.fp, data.seed)
    if key not in _loaded:
        _loaded.clear()
        _loaded[key] = _SeedData(data.split, image_size)
    return _loaded[key]


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


def sample_grids(pairs: list[AnomalyPair], *, per_type: bool, rows: int = 8) -> dict[str, np.ndarray]:
    """``grid``: rows taken in turn from each defect type; with `per_type`, one ``grid_<type>`` each."""
    if not pairs:
        return {}
    from harness.sample_grid import sample_grid

    by_type = by_defect_type(pairs, lambda p: p.defect_type)
    mixed = in_turn(by_type, rows)
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


def _prepare_device(device: str) -> None:
    """The run's device settings in this process (a Ray worker too): TF32 matrix products on CUDA."""
    from harness.core.device import fast_math  # torch: not at import, `bench --help` stays quick

    fast_math(device)


def run_generate(spec: ExperimentSpec, job: GenerateJob, env: JobEnv) -> AugmentedSet:
    """Fit the generator on generator-train data only, sample, and write the set (or reuse a complete one)."""
    existing, problem = verified_augmented(job.root)
    if existing is not None:
        return existing
    if problem:
        env.warn(problem)
    _prepare_device(env.device)
    gen_spec, seed = job.generator, job.data.seed
    data = seed_data(job.data, spec.image_size)
    cls = GENERATORS.get(gen_spec.name)
    root = job.root
    # cache_dir: the run's store of fitted models, shared by every augmented set of the run, so
    # variants that differ only in sampling params (guidance, placement) reuse one fit
    ctx = RunContext(job.data.category, spec.image_size, spec.profile, env.device, root.parent / f"{root.name}.work",
                     env.show_progress, cache_dir=env.run_dir / "fits")
    generator: Generator = cls(gen_spec.params, ctx)
    real = data.generator_pairs if (cls.needs_real_anomalies or cls.conditions_on_defect_type) else []
    env.note(f"fitting {gen_spec.key} on {len(data.normals)} normal images + {len(real)} real anomalies")
    _, fit_s = timed(lambda: generator.fit(data.normals, real, seed=seed), env.device)
    env.note(f"sampling {spec.generation.pool} pairs from {gen_spec.key}")
    pairs, sample_s = timed(lambda: sample_pairs(generator, data, spec.generation.pool, seed), env.device)
    quality: dict[str, Any] = {}
    grids = sample_grids(pairs, per_type=cls.conditions_on_defect_type)
    if pairs and spec.generation.quality_metrics:
        env.note(f"generation quality of {gen_spec.key}")
        quality = _quality(spec, pairs, data.generator_pairs, env.device)
    info = {"generator": gen_spec.name, "label": gen_spec.key, "params": generator.params.model_dump(mode="json"),
            "seed": seed, "category": job.data.category, "dataset": job.data.dataset.name, "quality": quality,
            "cost": generator_cost(fit_s, sample_s, len(pairs), env.device)}
    aug = write_augmented(root, normal_images=data.normals, normal_sources=list(data.normal_rows["image_path"]),
                          pairs=pairs, generator_train_sources=list(data.generator_train_rows["image_path"]) if real else [],
                          info=info, grids=grids)
    shutil.rmtree(ctx.work_dir, ignore_errors=True)
    return aug


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


def mlflow_params(spec: ExperimentSpec, job: DetectJob, device: str) -> dict[str, Any]:
    """The params an MLflow run of the cell records: its inputs, resolved (`harness.mlflow_params`)."""
    from harness.mlflow_params import cell_params

    return cell_params(spec, job, device)


def artifacts_of(record: CellRecord) -> list[Path]:
    """The augmented set's sample grids and manifest, logged with the cell."""
    if not record.augmented_manifest:
        return []
    manifest = Path(record.augmented_manifest)
    return [*sorted(manifest.parent.glob("grid*.png")), manifest]


def run_detect(spec: ExperimentSpec, job: DetectJob, aug: AugmentedSet | None, env: JobEnv) -> DetectResult:
    """Train and score the detector, write the cell record (without an MLflow run id yet)."""
    started = time.time()
    _prepare_device(env.device)
    data = seed_data(job.data, spec.image_size)
    if aug is None:
        train = TrainSet(normal=[Path(p) for p in data.normal_rows["image_path"]],
                         validation_normal=data.validation_paths, validation=data.validation)
    else:
        train = aug.train_set(data.validation_paths, data.validation, n=job.n_synthetic)
    env.note(f"training {job.detector.key} on {len(train.normal)} normal + {len(train.anomalous)} generated")
    work = env.run_dir / "work" / job.key.slug
    metrics, curve = run_detector(spec, job.detector, train, data.test, job.data.category, job.data.seed, work,
                                  env.device, env.show_progress, cache_dir=env.run_dir / "features")
    shutil.rmtree(work, ignore_errors=True)
    record = CellRecord(
        key=job.key, metrics=metrics, generation=(aug.manifest.get("quality", {}) if aug else {}),
        n_generated=len(train.anomalous), n_normal=len(train.normal), seconds=round(time.time() - started, 2),
        augmented_manifest=str(aug.root / "manifest.json") if aug else None, curve=curve,
        generator_cost=(aug.manifest.get("cost", {}) if aug else {}),
    )
    CellStore(env.run_dir).save(record)  # on disk before the driver hears of it: a dead driver loses nothing
    return DetectResult(record, mlflow_params(spec, job, env.device), artifacts_of(record))
