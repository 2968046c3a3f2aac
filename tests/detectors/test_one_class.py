"""PatchCore and PaDiM: one-class references on the offline ImageNet backbone, raw maps, seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectors.backbones import BackboneUnavailable, packaged_lite0_state_dict
from detectors.padim import Padim
from detectors.patchcore import PatchCore
from harness.metrics.detection import compute_detection_metrics
from harness.core import DETECTORS, RunContext


def _ctx(tmp_path, name):
    return RunContext(category="tiny", image_size=48, work_dir=tmp_path / name, show_progress=False)


@pytest.mark.parametrize("cls", [PatchCore, Padim])
def test_registered_one_class(cls):
    assert DETECTORS.get(cls.name) is cls
    assert cls.uses_anomalies is False


@pytest.mark.slow
@pytest.mark.parametrize("cls", [PatchCore, Padim])
def test_detects_defects_on_pretrained_features_and_is_seeded(cls, tiny_set, tmp_path):
    train, test = tiny_set
    runs = []
    for name in ("a", "b"):
        det = cls({"input_size": 64}, _ctx(tmp_path, name), seed=2)
        det.fit(train)
        runs.append(det.predict(test))
        ext = det._module.model.feature_extractor.feature_extractor
        torch.testing.assert_close(ext.conv_stem.weight, packaged_lite0_state_dict()["conv_stem.weight"])
    a, b = runs
    assert a.anomaly_maps.shape == (len(test), 48, 48) and a.anomaly_maps.dtype == np.float32
    np.testing.assert_array_equal(a.anomaly_maps, b.anomaly_maps)
    metrics = compute_detection_metrics(test, a, image_size=48)
    assert metrics["image_auroc"] > 0.9 and metrics["pixel_auroc"] > 0.9, metrics


def test_missing_weights_file_fails_before_training(tiny_set, tmp_path):
    train, _ = tiny_set
    det = PatchCore({"backbone_weights": str(tmp_path / "nope.pth")}, _ctx(tmp_path, "x"), seed=0)
    with pytest.raises(BackboneUnavailable, match="nope.pth"):
        det.fit(train)
