"""No held-out test image reaches any registered generator, or the detector trained on its set.

For every registered generator the grid runs with the generator's own fit/sample replaced by
recorders (this is about what the grid hands a plug-in, not what the plug-in does), and a
recording detector; every image they were given is compared by hash with the split's test part.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from harness.config import validate_spec
from harness.core import AnomalyPair, Detector, Predictions, TrainSet
from harness.core.registry import DETECTORS, GENERATORS, Entry
from harness.core.io import load_image
from harness.data.split import read_split
from harness.pipeline import run_experiment

SIZE = 64


def tiny_spec(tmp_path: Path, **over) -> dict:
    spec = {
        "name": "tiny", "image_size": SIZE, "seeds": [0],
        "datasets": [{"name": "builtin", "categories": ["pushpins"]}],
        "generation": {"n_samples": 8, "quality_metrics": False},
        "output_dir": str(tmp_path / "run"), "report": {"dir": str(tmp_path / "report")},
    }
    spec.update(over)
    return spec


def _digest(a: np.ndarray) -> str:
    return hashlib.sha256(np.ascontiguousarray(a).tobytes()).hexdigest()


class _RecordingDetector(Detector):
    """Records what it is trained on; predicts a constant map."""

    name = "recording"
    seen: list[TrainSet] = []

    def fit(self, train: TrainSet) -> None:
        _RecordingDetector.seen.append(train)

    def predict(self, test: pd.DataFrame) -> Predictions:
        n = len(test)
        rng = np.random.default_rng(0)
        return Predictions(rng.random(n), rng.random((n, SIZE, SIZE)).astype(np.float32))


@pytest.mark.parametrize("generator", GENERATORS.names())
def test_no_test_image_reaches_a_generator_or_detector(generator, tmp_path, monkeypatch):
    """For every registered generator, the pipeline hands it (and the detector) no held-out test image."""
    cls = GENERATORS.get(generator)
    seen: list[np.ndarray] = []

    def fit(self, normal_images, anomaly_pairs, *, seed):
        seen.extend(normal_images)
        seen.extend(p.image for p in anomaly_pairs)

    def sample(self, n, *, normal_images, defect_type=None, seed):
        seen.extend(normal_images)
        out = []
        for i in range(n):
            img = normal_images[i % len(normal_images)].copy()
            mask = np.zeros(img.shape[:2], bool)
            mask[4:12, 4:12] = True
            img[mask] = 255 - img[mask]
            out.append(AnomalyPair(img, mask, defect_type or "synthetic"))
        return out

    # the generator's own fit/sample are replaced: this test is about what the grid hands them
    monkeypatch.setattr(cls, "fit", fit)
    monkeypatch.setattr(cls, "sample", sample)
    _RecordingDetector.seen = []
    monkeypatch.setitem(DETECTORS._entries, "recording", Entry("recording", _RecordingDetector, "", "test"))
    spec = validate_spec(tiny_spec(tmp_path, generators=[{"name": generator}], detectors=[{"name": "recording"}]))
    summary = run_experiment(spec, show_progress=False, echo=lambda m: None)
    assert summary.failed == [], summary.failed

    split = read_split(next((spec.run_dir / "splits").rglob("seed0.json")))
    test_paths = list(split.loc[split["role"] == "test", "image_path"])
    assert test_paths
    test_hashes = {_digest(load_image(p, SIZE)) for p in test_paths}
    assert seen, "the generator was never called"
    assert not test_hashes & {_digest(a) for a in seen}
    (train,) = _RecordingDetector.seen
    trained_on = [load_image(p, SIZE) for p in train.normal] + [load_image(p, SIZE) for p, _ in train.anomalous]
    assert not test_hashes & {_digest(a) for a in trained_on}
    assert not {str(p) for p in train.validation_normal} & set(test_paths)
