"""GLASS on generated pairs: offline backbone, no DTD, its augmentor replaced, seeded."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectors.backbones import packaged_lite0_state_dict
from harness.core import DETECTORS, RunContext, TrainSet
from detectors.glass import GlassDetector

TINY = {"input_size": 64, "batch_size": 4, "embed_dim": 32, "discriminator_hidden": 32, "step": 1, "max_steps": 2}


def _ctx(tmp_path, name):
    return RunContext(category="tiny", image_size=48, work_dir=tmp_path / name, show_progress=False)


def test_registered_and_needs_pairs(tiny_set, tmp_path):
    assert DETECTORS.get("glass") is GlassDetector
    train, _ = tiny_set
    with pytest.raises(ValueError, match="generated pairs"):
        GlassDetector(TINY, _ctx(tmp_path, "x"), seed=0).fit(TrainSet(normal=train.normal))


@pytest.mark.slow
def test_fit_predict_offline_and_seeded(tiny_set, tmp_path):
    train, test = tiny_set
    outs = []
    for name in ("a", "b"):
        det = GlassDetector(TINY, _ctx(tmp_path, name), seed=3)
        det.fit(train)
        ext = det._module.model.forward_modules["feature_aggregator"].feature_extractor
        torch.testing.assert_close(ext.conv_stem.weight, packaged_lite0_state_dict()["conv_stem.weight"])
        assert det._module.model.forward_modules["feature_aggregator"].requires_grad is False  # frozen, as in GLASS
        outs.append(det.predict(test))
    assert outs[0].anomaly_maps.shape == (len(test), 48, 48)
    np.testing.assert_array_equal(outs[0].anomaly_maps, outs[1].anomaly_maps)
