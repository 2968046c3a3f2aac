"""supervised-seg: trains through anomalib's Engine on generated pairs, raw maps, seeded."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core import DETECTORS, ParamError, RunContext, TrainSet
from detectors.supervised_seg import SupervisedSegmentation
from harness.core.io import file_sha256
from harness.metrics.detection import compute_detection_metrics

TINY = {"base_width": 8, "input_size": 32, "batch_size": 4, "max_steps": 3}


def _ctx(tmp_path, name="w"):
    return RunContext(category="tiny", image_size=48, work_dir=tmp_path / name, show_progress=False)


def _run(tiny_set, tmp_path, seed, params=TINY, name="w"):
    train, test = tiny_set
    det = SupervisedSegmentation(params, _ctx(tmp_path, name), seed=seed)
    det.fit(train)
    # what the Engine actually trained on: every generated pair, no test image (by content)
    served = {file_sha256(p) for p in det._engine.trainer.datamodule.train_data.samples["image_path"]}
    assert {file_sha256(img) for img, _ in train.anomalous} <= served
    assert not served & {file_sha256(p) for p in test["image_path"]}
    return det.predict(test)


def test_registered_and_profiles_resolve():
    assert DETECTORS.get("supervised-seg") is SupervisedSegmentation
    quick = SupervisedSegmentation.resolve_params(None, "cpu-quick")
    full = SupervisedSegmentation.resolve_params(None, "gpu-full")
    assert quick.base_width < full.base_width == 64 and full.input_size == 256 and full.lr == 1e-4
    with pytest.raises(ParamError, match="supervised-seg"):
        SupervisedSegmentation.resolve_params({"widht": 3}, "cpu-quick")


@pytest.mark.slow
def test_fit_predict_is_raw_row_aligned_and_seeded(tiny_set, tmp_path):
    _, test = tiny_set
    a = _run(tiny_set, tmp_path, seed=3, name="a")
    b = _run(tiny_set, tmp_path, seed=3, name="b")
    c = _run(tiny_set, tmp_path, seed=4, name="c")
    assert a.image_scores.shape == (len(test),)
    assert a.anomaly_maps.shape == (len(test), 48, 48) and a.anomaly_maps.dtype == np.float32
    np.testing.assert_array_equal(a.image_scores, b.image_scores)
    np.testing.assert_array_equal(a.anomaly_maps, b.anomaly_maps)
    assert not np.array_equal(a.anomaly_maps, c.anomaly_maps)
    metrics = compute_detection_metrics(test, a, image_size=48)
    assert set(metrics) >= {"image_auroc", "pixel_auroc", "pixel_aupro"}


@pytest.mark.slow
def test_learns_the_generated_defects(tiny_set, tmp_path):
    _, test = tiny_set
    preds = _run(tiny_set, tmp_path, seed=0, params={**TINY, "max_steps": 25, "lr": 3e-3})
    metrics = compute_detection_metrics(test, preds, image_size=48)
    assert metrics["pixel_auroc"] > 0.9, metrics


def test_predict_before_fit_is_an_error(tmp_path):
    det = SupervisedSegmentation(TINY, _ctx(tmp_path), seed=0)
    with pytest.raises(RuntimeError, match="fit"):
        det.predict(None)


def test_trains_without_generated_pairs(tmp_path, tiny_set):
    train, test = tiny_set
    det = SupervisedSegmentation({**TINY, "max_steps": 1}, _ctx(tmp_path), seed=0)
    det.fit(TrainSet(normal=train.normal))
    assert det.predict(test.iloc[:2]).anomaly_maps.shape == (2, 48, 48)
