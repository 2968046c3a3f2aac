"""The sample table every dataset adapter produces, and the checks it must pass.

One row per image. Columns:

- ``image_path`` (str): absolute path of the image file.
- ``mask_paths`` (list[str]): mask files of the image (empty for normal images). LOCO has
  several per image (one per defect); they are merged with ``> 0`` for pixel metrics and
  kept apart for sPRO.
- ``mask_saturation`` (list[tuple[float, bool]]): per mask file, the sPRO saturation
  threshold and whether it is relative (fraction of the defect area) — from
  ``defects_config.json`` for LOCO; ``(1.0, True)`` (= plain PRO) elsewhere.
- ``label`` (int): 0 normal, 1 anomalous.
- ``defect_type`` (str): ``"good"`` for normal images.
- ``anomaly_kind`` (str): ``"structural"``, ``"logical"``, or ``""`` when the dataset does
  not say.
- ``split`` (str): the dataset's own split: ``"train"``, ``"validation"``, ``"test"``.
- ``category`` (str).

The few-shot split (`harness.data.split`) adds ``role``: ``"detector_train"`` (normal
train images), ``"validation"``, ``"generator_train"`` (the few real anomalies a
generator may see) or ``"test"``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.core.io import DatasetError  # noqa: F401 - defined in the core (the image reader raises it); named here too

COLUMNS: tuple[str, ...] = (
    "image_path",
    "mask_paths",
    "mask_saturation",
    "label",
    "defect_type",
    "anomaly_kind",
    "split",
    "category",
)
ROLES: tuple[str, ...] = ("detector_train", "validation", "generator_train", "test")


def check_table(table: pd.DataFrame, source: str) -> pd.DataFrame:
    """Raise `DatasetError` unless `table` has the columns above and usable splits."""
    missing = [c for c in COLUMNS if c not in table.columns]
    if missing:
        raise DatasetError(f"{source}: sample table lacks columns {missing}")
    if not (table["label"] == 0).any() or not ((table["split"] == "train") & (table["label"] == 0)).any():
        raise DatasetError(f"{source}: no normal training images found; add images under train/good")
    if not ((table["split"] == "test") & (table["label"] == 1)).any():
        raise DatasetError(f"{source}: no anomalous test images found; add defect folders under test/")
    return table


def sample_row(image: Path, masks: list[Path], *, label: int, defect_type: str, split: str, category: str,
               anomaly_kind: str = "") -> dict:
    """One table row for a dataset without sPRO thresholds (every mask saturates like plain PRO)."""
    return {
        "image_path": str(image.resolve()),
        "mask_paths": [str(m.resolve()) for m in masks],
        "mask_saturation": [(1.0, True)] * len(masks),
        "label": label,
        "defect_type": defect_type,
        "anomaly_kind": anomaly_kind,
        "split": split,
        "category": category,
    }
