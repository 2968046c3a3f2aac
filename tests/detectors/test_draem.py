"""DRÆM on generated pairs: no DTD download, its own augmenter replaced, seeded raw maps."""

from __future__ import annotations

import numpy as np
import pytest

from detectors.draem import DraemDetector
from harness.core import DETECTORS, RunContext

TINY = {"input_size": 32, "recon_width": 4, "disc_width": 4, "batch_size": 4, "max_steps": 2}


def test_registered_and_paper_sizes():
    assert DETECTORS.get("draem") is DraemDetector
    full = DraemDetector.resolve_params(None, "gpu-full")
    assert (full.recon_width, full.disc_width, full.lr) == (128, 64, 1e-4)


@pytest.mark.slow
def test_fit_predict_without_download_and_seeded(tiny_set, tmp_path):
    train, test = tiny_set
    outs = []
    for name in ("a", "b"):
        ctx = RunContext(category="tiny", image_size=48, work_dir=tmp_path / name, show_progress=False)
        det = DraemDetector(TINY, ctx, seed=5)
        det.fit(train)
        assert det._module.augmenter is None  # the generator's pairs replace Perlin/DTD anomalies
        outs.append(det.predict(test))
    assert outs[0].anomaly_maps.shape == (len(test), 48, 48)
    np.testing.assert_array_equal(outs[0].image_scores, outs[1].image_scores)
