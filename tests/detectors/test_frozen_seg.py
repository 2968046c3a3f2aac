"""frozen-seg: frozen encoder (cached features) + light decoder; seeded, learns, validation-fold early stopping."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest

from harness.core import DETECTORS, ParamError, RunContext, TrainSet
from detectors.frozen_seg import FrozenEncoderSegmenter
from harness.core.io import load_mask
from harness.core.toydata import make_tiny_set
from harness.metrics.detection import compute_detection_metrics, pixel_ap


TINY = {"max_steps": 5, "eval_every": 5, "batch_size": 4}


@pytest.fixture(scope="module", autouse=True)
def _backbone_code_imported():
    """anomalib's feature extractors take ~7 s to import once: pay it here, not in the first test."""
    import anomalib.models.components.feature_extractors  # noqa: F401


def _ctx(tmp_path, name="w", cache="features"):
    return RunContext(category="tiny", image_size=48, work_dir=tmp_path / name, show_progress=False,
                      cache_dir=tmp_path / cache)


def _fit(train, tmp_path, *, seed=0, params=TINY, name="w", cache="features") -> FrozenEncoderSegmenter:
    det = FrozenEncoderSegmenter(params, _ctx(tmp_path, name, cache), seed=seed)
    det.fit(train)
    return det


def _validation_table(tmp_path, *, n_good=3, n_bad=4) -> pd.DataFrame:
    """A validation fold as the pipeline passes it: sample-table rows of real anomalies + normals."""
    _, table = make_tiny_set(tmp_path / "val", n_train=0, n_gen=0, n_test_good=n_good, n_test_bad=n_bad, seed=7)
    table = table.copy()
    table["split"] = "test"
    table["role"] = "validation"
    return table


def test_registered_and_params():
    assert DETECTORS.get("frozen-seg") is FrozenEncoderSegmenter
    assert FrozenEncoderSegmenter.uses_anomalies is True
    quick = FrozenEncoderSegmenter.resolve_params(None, "cpu-quick")
    full = FrozenEncoderSegmenter.resolve_params(None, "gpu-full")
    assert quick.backbone == "tf_efficientnet_lite0" and full.backbone.startswith("wide_resnet50_2")
    with pytest.raises(ParamError, match="frozen-seg"):
        FrozenEncoderSegmenter.resolve_params({"widht": 3}, "cpu-quick")
    with pytest.raises(ParamError, match="frozen-seg.*batch_size"):
        FrozenEncoderSegmenter.resolve_params({"batch_size": 1}, "cpu-quick")


def test_predict_before_fit_is_an_error(tmp_path):
    det = FrozenEncoderSegmenter(TINY, _ctx(tmp_path), seed=0)
    with pytest.raises(RuntimeError, match="fit"):
        det.predict(pd.DataFrame({"image_path": []}))


def test_fit_predict_shapes_and_finite(tiny_set, tmp_path):
    train, test = tiny_set
    det = _fit(train, tmp_path)
    preds = det.predict(test)
    assert preds.anomaly_maps.shape == (len(test), 48, 48) and preds.anomaly_maps.dtype == np.float32
    assert preds.image_scores.shape == (len(test),) and preds.image_scores.dtype == np.float64
    assert np.isfinite(preds.anomaly_maps).all() and np.isfinite(preds.image_scores).all()
    assert ((preds.anomaly_maps >= 0) & (preds.anomaly_maps <= 1)).all()
    assert det.anomalous_training_pixels > 0  # the generated pairs were in the batches
    # row-aligned: predicting a reordered table reorders the outputs
    rev = det.predict(test.iloc[::-1].reset_index(drop=True))
    np.testing.assert_array_equal(rev.anomaly_maps, preds.anomaly_maps[::-1])


def test_seeded(tiny_set, tmp_path):
    train, test = tiny_set
    a = _fit(train, tmp_path, seed=3, name="a", cache="fa").predict(test)
    b = _fit(train, tmp_path, seed=3, name="b", cache="fb").predict(test)
    c = _fit(train, tmp_path, seed=4, name="c", cache="fc").predict(test)
    np.testing.assert_array_equal(a.anomaly_maps, b.anomaly_maps)
    np.testing.assert_array_equal(a.image_scores, b.image_scores)
    assert not np.array_equal(a.anomaly_maps, c.anomaly_maps)
    # features from the cache (a hit) give the same model as computed ones
    cached = FrozenEncoderSegmenter(TINY, _ctx(tmp_path, "d", "fa"), seed=3)
    cached.fit(train)
    assert cached.cache.misses == 0 and cached.cache.hits == 2  # normals + generated
    np.testing.assert_array_equal(cached.predict(test).anomaly_maps, a.anomaly_maps)


def test_learns_the_generated_defects(tiny_set, tmp_path):
    # measured (seeds 0-2): 150 steps → pixel AP 0.85-0.89; an untrained decoder (lr 1e-9) ≈ 0.50,
    # 1 step ≈ 0.58 (the standardised frozen features of red squares already stand out),
    # trained on normals only ≈ 0.01 — so the bar sits well above "not trained"
    train, test = tiny_set
    det = _fit(train, tmp_path, params={"max_steps": 150, "eval_every": 50, "batch_size": 4})
    metrics = compute_detection_metrics(test, det.predict(test), image_size=48)
    print("frozen-seg tiny_set pixel AP after 150 steps:", metrics["pixel_ap"])
    assert metrics["pixel_ap"] > 0.75, metrics
    assert metrics["image_auroc"] > 0.9, metrics
    losses = [p["train_loss"] for p in det.training_curve]
    assert losses[-1] < losses[0]


def test_validation_curve_and_best_step(tiny_set, tmp_path):
    train, test = tiny_set
    val = _validation_table(tmp_path)
    params = {"max_steps": 12, "eval_every": 3, "batch_size": 4, "patience": 0, "lr": 3e-3}
    det = _fit(TrainSet(normal=train.normal, anomalous=train.anomalous, validation=val), tmp_path, params=params)
    curve = det.training_curve
    assert [p["step"] for p in curve] == [3, 6, 9, 12]
    for p in curve:
        assert set(p) == {"step", "train_loss", "val_pixel_ap", "val_loss"}
        assert 0.0 <= p["val_pixel_ap"] <= 1.0 and np.isfinite(p["train_loss"]) and np.isfinite(p["val_loss"])
    aps = [p["val_pixel_ap"] for p in curve]
    assert det.selected_step == curve[int(np.argmax(aps))]["step"]
    # the kept decoder is the selected step's: its val pixel AP is the curve's maximum
    preds = det.predict(val)
    masks = np.stack([load_mask(list(m), 48) for m in val["mask_paths"]])
    assert pixel_ap(preds.anomaly_maps, masks) == pytest.approx(max(aps), abs=1e-6)
    # the validation fold is never trained on
    n_gen_pixels = det.anomalous_training_pixels
    assert n_gen_pixels > 0
    again = _fit(TrainSet(normal=train.normal, anomalous=train.anomalous), tmp_path, params=params, name="x")
    assert again.anomalous_training_pixels == n_gen_pixels


def test_early_stopping_with_patience(tiny_set, tmp_path):
    train, _ = tiny_set
    val = _validation_table(tmp_path)
    patience, max_steps = 2, 60
    params = {"max_steps": max_steps, "eval_every": 1, "batch_size": 4, "patience": patience, "lr": 1e-2}
    det = _fit(TrainSet(normal=train.normal, anomalous=train.anomalous, validation=val), tmp_path, params=params)
    curve = det.training_curve
    aps = [p["val_pixel_ap"] for p in curve]
    best = int(np.argmax(aps))
    assert [p["step"] for p in curve] == list(range(1, len(curve) + 1))
    assert det.selected_step == curve[best]["step"]
    # measured: with this seed val AP peaks at step 6 and training stops at step 8
    assert len(curve) < max_steps, f"expected an early stop, curve: {aps}"
    assert len(curve) - 1 - best == patience, "stopped, but not after `patience` evaluations without a better AP"
    assert det.selected_step < curve[-1]["step"]
    # the kept decoder is the best step's, not the last one's
    masks = np.stack([load_mask(list(m), 48) for m in val["mask_paths"]])
    assert pixel_ap(det.predict(val).anomaly_maps, masks) == pytest.approx(aps[best], abs=1e-6)
    assert aps[best] > aps[-1]


def test_without_validation_trains_max_steps(tiny_set, tmp_path):
    train, _ = tiny_set
    params = {"max_steps": 7, "eval_every": 3, "batch_size": 4}
    det = _fit(train, tmp_path, params=params)
    assert [p["step"] for p in det.training_curve] == [3, 6, 7]
    assert all(set(p) == {"step", "train_loss"} for p in det.training_curve)
    assert det.selected_step == 7
    # a validation table without anomalies is no fold either (nothing to score pixel AP on)
    normals_only = _validation_table(tmp_path, n_bad=0)
    det2 = _fit(TrainSet(normal=train.normal, anomalous=train.anomalous, validation=normals_only), tmp_path,
                params=params, name="v")
    assert det2.training_curve and all(set(p) == {"step", "train_loss"} for p in det2.training_curve)
    assert det2.selected_step == 7


def test_normals_only_trains_on_no_anomalous_pixel(tiny_set, tmp_path):
    train, test = tiny_set
    det = _fit(TrainSet(normal=train.normal), tmp_path, params={**TINY, "max_steps": 3})
    assert det.anomalous_training_pixels == 0
    assert det.predict(test.iloc[:2]).anomaly_maps.shape == (2, 48, 48)
