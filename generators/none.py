"""`none`: no synthetic anomalies — the no-augmentation baseline row."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from harness.core import AnomalyPair, GENERATORS, Generator


@GENERATORS.register("none")
class NoAnomalies(Generator):
    """No synthetic anomalies: detectors train on normal images only (baseline)."""

    name = "none"
    needs_training = False
    makes_pairs = False

    def fit(self, normal_images: Sequence[np.ndarray], anomaly_pairs: Sequence[AnomalyPair], *, seed: int) -> None:
        return None

    def sample(self, n, *, normal_images, defect_type=None, seed) -> list[AnomalyPair]:
        return []
