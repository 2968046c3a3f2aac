"""The detector contract: train on an augmented set (normals + generated pairs), predict maps.

Detectors wrap anomalib (`AnomalibModule` trained by anomalib's `Engine`); predictions are
the raw scores and anomaly maps (no normalisation, no clamping), from which
`harness.metrics.detection` computes every number we report.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd

from harness.core.plugin import Plugin, RunContext


@dataclass(frozen=True)
class TrainSet:
    """What a detector may learn from: never a held-out test image.

    `normal` are paths of real normal training images (any size: detectors resize);
    `anomalous` are (image_path, mask_path) of generated pairs at `image_size`
    (masks are 0/255 PNGs), with their defect types. `validation` is the validation fold
    as a sample table (real anomalies no generator saw + validation normals; see
    `harness.data.split`), for early stopping and budget curves, or None.
    """

    normal: list[Path]
    anomalous: list[tuple[Path, Path]] = field(default_factory=list)
    anomalous_defect_types: list[str] = field(default_factory=list)
    validation_normal: list[Path] = field(default_factory=list)
    validation: pd.DataFrame | None = None


@dataclass
class Predictions:
    """Raw detector outputs for the test table, row-aligned with it."""

    image_scores: np.ndarray  # (N,) float
    anomaly_maps: np.ndarray  # (N, H, W) float32 at the run's image_size


class Detector(Plugin, ABC):
    """Base class of every detector (register subclasses in `DETECTORS`)."""

    #: False for one-class references (PatchCore, PaDiM): they ignore generated pairs,
    #: so the grid runs them once per category × seed, not once per generator.
    uses_anomalies: ClassVar[bool] = True

    def __init__(self, params: dict[str, Any] | None, context: RunContext, *, seed: int):
        self.params = self.resolve_params(params, context.profile)
        self.context = context
        self.seed = seed
        #: what `fit` measured on the way, logged to MLflow as step metrics: dicts with "step"
        #: and values such as train_loss / val_pixel_ap (empty for detectors that keep none)
        self.training_curve: list[dict[str, float]] = []

    @abstractmethod
    def fit(self, train: TrainSet) -> None:
        """Train on normals and (if `uses_anomalies`) the generated pairs."""

    @abstractmethod
    def predict(self, test: pd.DataFrame) -> Predictions:
        """Score every row of a sample table (columns as in `harness.data.table`)."""
