"""SuperSimpleNet (supervised) trains offline on the generated pairs with the packaged backbone."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from detectors.backbones import packaged_lite0_state_dict
from detectors.supersimplenet import SuperSimpleNet
from harness.core import DETECTORS, RunContext


def test_registered_and_uses_anomalies():
    assert DETECTORS.get("supersimplenet") is SuperSimpleNet
    assert SuperSimpleNet.uses_anomalies is True


@pytest.mark.slow
def test_fit_predict_offline_and_seeded(tiny_set, tmp_path):
    train, test = tiny_set
    outs = []
    for name in ("a", "b"):
        ctx = RunContext(category="tiny", image_size=48, work_dir=tmp_path / name, show_progress=False)
        det = SuperSimpleNet({"input_size": 128, "max_steps": 2, "batch_size": 4}, ctx, seed=1)
        det.fit(train)
        ext = det.feature_memo.inner.feature_extractor.feature_extractor
        torch.testing.assert_close(ext.conv_stem.weight, packaged_lite0_state_dict()["conv_stem.weight"])
        outs.append(det.predict(test))
    assert outs[0].anomaly_maps.shape == (len(test), 48, 48)
    assert np.isfinite(outs[0].image_scores).all()
    np.testing.assert_array_equal(outs[0].anomaly_maps, outs[1].anomaly_maps)
