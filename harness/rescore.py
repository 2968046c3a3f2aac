"""`bench quality RUN_DIR`: fill in the generation-quality metrics an augmented set left *n/a*.

Quality is computed when a set is written; a metric whose weights were missing then stays n/a.
After the weights are added this re-scores every complete set of the run in place: the
generated images come from the set itself, the real generator-train anomalies from the run's
recorded split (``splits/<dataset>/<category>/seed<k>.json``, sha256-checked, never the
validation or test rows). Only missing image metrics (IS, IC-LPIPS, KID, FID) are recomputed;
values already present are kept. The manifest and each cell record that points at the set
are rewritten atomically, so a crash leaves either the old or the new record. Each cell's
MLflow run (where its record has one) gets the new metrics and their params, so the UI agrees
with the report. It holds the run folder's lock, as `bench run` does: a run that is still
writing the sets makes it exit 2 with the lock message.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from harness.augmented import MANIFEST, load_augmented
from harness.cells import CellStore, write_json_atomic
from harness.core.generator import AnomalyPair
from harness.lock import run_lock

IMAGE_METRICS = ("is", "ic_lpips", "kid", "fid")


@dataclass
class RescoreSummary:
    sets: int = 0
    rescored: dict[str, int] = field(default_factory=dict)  # metric → sets now with a value
    still_missing: dict[str, str] = field(default_factory=dict)  # metric → one reason
    cells_updated: int = 0
    mlflow_runs_updated: int = 0


def _set_key(manifest: Path | str) -> tuple[str, ...]:
    """<dataset>/<category>/<generator>/<seed-fp>/manifest.json: the same whatever folder the run was started from."""
    return Path(manifest).parts[-5:]


def _missing(quality: dict[str, Any]) -> list[str]:
    return [k for k in IMAGE_METRICS if k not in quality or quality[k].get("value") is None]


def real_generator_train(run_dir: Path, dataset: str, category: str, seed: int, image_size: int) -> list[AnomalyPair]:
    """The split's generator-train anomalies (images only: mask-free metrics are all that is re-scored)."""
    from harness.data.io import file_sha256, load_image

    split = run_dir / "splits" / dataset / category / f"seed{seed}.json"
    if not split.is_file():
        raise FileNotFoundError(f"{split}: no recorded split for this augmented set; re-run `bench run SPEC` to write it")
    rows = [r for r in json.loads(split.read_text())["rows"] if r["role"] == "generator_train"]
    pairs = []
    for r in rows:
        path = Path(r["image_path"])
        if not path.is_file() or file_sha256(path) != r["sha256"]:
            raise FileNotFoundError(f"{path}: generator-train image missing or changed since the run (split {split}); "
                                    "restore the dataset the run used")
        image = load_image(path, image_size)
        pairs.append(AnomalyPair(image, np.zeros(image.shape[:2], bool), r["defect_type"]))
    return pairs


def rescore_run(run_dir: Path, *, device: str = "cpu", echo: Callable[[str], None] = print) -> RescoreSummary:
    """Re-score every complete augmented set under `run_dir`; returns what changed."""
    spec_file = run_dir / "spec.json"
    if not spec_file.is_file():
        raise FileNotFoundError(f"{spec_file}: not a run folder (no spec.json); pass the folder `bench run` wrote")
    with run_lock(run_dir, warn=echo):
        return _rescore(run_dir, json.loads(spec_file.read_text()), device, echo)


def _tracker(run_dir: Path, spec: dict[str, Any]):
    """The run's MLflow experiment, or None where the run logged none (no store, no name)."""
    from harness.config import default_tracking_uri
    from harness.tracking import Tracker

    uri = spec.get("tracking_uri") or (default_tracking_uri(run_dir) if (run_dir / "mlflow.db").is_file() else None)
    if uri is None or not spec.get("name"):
        return None
    return Tracker(uri, spec["name"], run_dir / "mlartifacts", spec.get("description") or "")


def _rescore(run_dir: Path, spec: dict[str, Any], device: str, echo: Callable[[str], None]) -> RescoreSummary:
    from harness.metrics.generation import generation_metrics

    tracker = None
    gen_cfg = spec.get("generation", {})
    weights_dir = Path(spec["weights_dir"]) if spec.get("weights_dir") else None
    summary = RescoreSummary()
    by_manifest: dict[tuple[str, ...], list] = {}
    store = CellStore(run_dir)
    for rec in store.records():
        if rec.augmented_manifest:
            by_manifest.setdefault(_set_key(rec.augmented_manifest), []).append(rec)
    for manifest in sorted((run_dir / "augmented").glob(f"**/{MANIFEST}")):
        aug = load_augmented(manifest.parent)
        if aug is None or not aug.manifest.get("generated"):
            continue
        summary.sets += 1
        quality = dict(aug.manifest.get("quality") or {})
        todo = _missing(quality)
        if not todo:
            continue
        m = aug.manifest
        real = real_generator_train(run_dir, m["dataset"], m["category"], int(m["seed"]), int(spec["image_size"]))
        echo(f"re-scoring {', '.join(todo)} of {manifest.parent.relative_to(run_dir)}")
        results = generation_metrics(aug.pairs(), real, weights_dir=weights_dir, device=device,
                                     ic_lpips_net=gen_cfg.get("ic_lpips_net", "vgg"),
                                     ic_lpips_size=gen_cfg.get("ic_lpips_size", 256),
                                     ic_lpips_cap=gen_cfg.get("ic_lpips_cap", 50), only=todo)
        changed = False
        for key, res in results.items():
            if res.value is None:
                summary.still_missing.setdefault(key, res.unavailable or "unavailable")
                if key not in quality:  # record why, so the report can say it
                    quality[key] = {"value": None, "unavailable": res.unavailable, "params": res.params}
                    changed = True
                continue
            quality[key] = {"value": res.value, "unavailable": None, "params": res.params}
            summary.rescored[key] = summary.rescored.get(key, 0) + 1
            changed = True
        if not changed:
            continue
        write_json_atomic(manifest, {**m, "quality": quality})
        for rec in by_manifest.get(_set_key(manifest), []):
            rec.generation = quality
            store.save(rec)
            summary.cells_updated += 1
            if rec.mlflow_run_id:
                tracker = tracker or _tracker(run_dir, spec)
                if tracker is not None and tracker.update_generation(rec.mlflow_run_id, quality):
                    summary.mlflow_runs_updated += 1
    return summary
