"""residual-seg: starts at the one-class map (step 0 is a candidate), cross-fitted normal maps, seeded."""

from __future__ import annotations


import numpy as np
import pandas as pd
import pytest
import torch
import torch.nn.functional as F
from sklearn.metrics import average_precision_score

from harness.core import DETECTORS, ParamError, RunContext, TrainSet, fakegpu
from detectors.one_class_maps import GaussianMap, NearestNeighbourMap, channel_subset, cross_fitted_maps
from detectors.residual_seg import ResidualHead, ResidualSegmenter
from harness.core.io import load_mask
from harness.core.toydata import make_tiny_set


TINY = {"max_steps": 4, "eval_every": 2, "batch_size": 4, "n_features": 16}
SIZE = 48


@pytest.fixture(scope="module", autouse=True)
def _backbone_code_imported():
    import anomalib.models.components.feature_extractors  # noqa: F401


def _ctx(tmp_path, device="cpu", name="w"):
    return RunContext(category="tiny", image_size=SIZE, device=device, work_dir=tmp_path / name, show_progress=False,
                      cache_dir=tmp_path / "features")


def _with_validation(tmp_path, train: TrainSet) -> TrainSet:
    _, val = make_tiny_set(tmp_path / "val", n_train=0, n_gen=0, n_test_good=3, n_test_bad=4, seed=7)
    val = val.assign(role="validation")
    return TrainSet(normal=train.normal, anomalous=train.anomalous,
                    anomalous_defect_types=train.anomalous_defect_types, validation=val)


def test_registered_and_params():
    assert DETECTORS.get("residual-seg") is ResidualSegmenter
    assert ResidualSegmenter.uses_anomalies is True
    assert ResidualSegmenter.resolve_params(None, "cpu-quick").one_class == "auto"
    with pytest.raises(ParamError, match="residual-seg.*one_class"):
        ResidualSegmenter.resolve_params({"one_class": "svm"}, "cpu-quick")


def test_untrained_head_adds_nothing_to_the_one_class_map():
    torch.manual_seed(0)
    head = ResidualHead(channels=5, width=4, bias_init=-3.0)
    feats, z = torch.randn(2, 5, 6, 6), torch.randn(2, 1, 6, 6)
    assert torch.equal(head(feats, z), z - 3.0)


def test_cross_fitted_normal_maps_look_like_unseen_normals():
    """In-sample maps are biased low (a Gaussian fitted on the very images it scores); the maps of
    the normals the head trains on must look like those of normals never fitted."""
    g = torch.Generator().manual_seed(0)
    normals, unseen = torch.randn(40, 8, 4, 4, generator=g), torch.randn(40, 8, 4, 4, generator=g)
    fitted = GaussianMap(0.01).fit(normals)
    in_sample, fresh = fitted.score(normals).mean(), fitted.score(unseen).mean()
    crossed = cross_fitted_maps(normals, "gaussian", folds=4, eps=0.01, bank_fraction=1.0, seed=0).mean()
    assert in_sample < 0.9 * fresh
    assert abs(crossed - fresh) < abs(in_sample - fresh) / 2
    knn = NearestNeighbourMap(bank_fraction=1.0).fit(normals)
    assert torch.all(knn.score(normals) < 1e-3)  # every normal patch is in its own bank
    assert cross_fitted_maps(normals, "knn", folds=4, eps=0.01, bank_fraction=1.0, seed=0).min() > 0.1
    with pytest.raises(ValueError, match="2 normal images"):
        cross_fitted_maps(normals[:1], "gaussian", folds=4, eps=0.01, bank_fraction=1.0, seed=0)


def test_nearest_neighbour_distance_is_the_brute_force_one():
    g = torch.Generator().manual_seed(1)
    normals, query = torch.randn(3, 4, 5, 5, generator=g), torch.randn(2, 4, 5, 5, generator=g)
    knn = NearestNeighbourMap(bank_fraction=1.0, chunk=7).fit(normals)
    bank = NearestNeighbourMap.patches(normals).permute(0, 2, 3, 1).reshape(-1, 4)
    q = NearestNeighbourMap.patches(query).permute(0, 2, 3, 1).reshape(-1, 4)
    expected = torch.cdist(q, bank).amin(1).reshape(2, 5, 5)
    torch.testing.assert_close(knn.score(query), expected, atol=1e-4, rtol=1e-4)
    # the patches are PatchCore's: anomalib's PatchcoreModel.feature_pooler is AvgPool2d(3, 1, 1)
    torch.testing.assert_close(NearestNeighbourMap.patches(query), torch.nn.AvgPool2d(3, 1, 1)(query))
    assert channel_subset(10, 4, 0, torch.device("cpu")).tolist() == channel_subset(10, 4, 0, torch.device("cpu")).tolist()


def test_step_zero_is_the_one_class_map_scored_on_the_validation_fold(tiny_set, tmp_path):
    """The curve starts at step 0 with the one-class map's validation AP (recomputed here by
    scikit-learn from PaDiM-style statistics on the same features), so early stopping can keep it."""
    train, _ = tiny_set
    train = _with_validation(tmp_path, train)
    det = ResidualSegmenter({**TINY, "one_class": "gaussian"}, _ctx(tmp_path), seed=0)
    det.fit(train)
    curve = det.training_curve
    assert curve[0]["step"] == 0 and [p["step"] for p in curve[1:]] == [2, 4]
    # the same one-class statistics, recomputed outside the detector
    expected = _validation_ap(det, train, GaussianMap(0.01))
    assert curve[0]["val_pixel_ap"] == pytest.approx(expected, abs=2e-3)
    best = max(curve, key=lambda p: p["val_pixel_ap"])
    assert det.selected_step == best["step"]


def test_a_kept_step_zero_predicts_the_one_class_map(tiny_set, tmp_path, monkeypatch):
    """When no trained step beats step 0 on validation, predictions are the one-class map itself
    (a monotone transform of it: the same ranking of every pixel)."""
    train, test = tiny_set
    train = _with_validation(tmp_path, train)
    scores = iter([0.5, 0.4, 0.3])  # step 0, 2, 4: training only made it worse
    monkeypatch.setattr("detectors.residual_seg.average_precision", lambda *_: next(scores))
    det = ResidualSegmenter({**TINY, "one_class": "gaussian"}, _ctx(tmp_path), seed=0)
    det.fit(train)
    assert det.selected_step == 0
    preds = det.predict(test)
    feats = det._standardise(det.features(list(test["image_path"])))
    z = det._z_map(feats)
    one_class = F.interpolate(z, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(preds.anomaly_maps, one_class.numpy() - 3.0, atol=1e-5)


def _validation_ap(det: ResidualSegmenter, train: TrainSet, stats, standardised: bool = True) -> float:
    """scikit-learn's pixel AP of a one-class statistic fitted outside the detector on its features
    (standardised per channel on the normals, or the backbone's own units as PatchCore's)."""
    nf = det.features(list(train.normal))
    mean, std = nf.mean(dim=(0, 2, 3), keepdim=True), nf.std(dim=(0, 2, 3), keepdim=True).clamp_min(1e-6)
    if not standardised:
        mean, std = torch.zeros_like(mean), torch.ones_like(std)
    channels = channel_subset(nf.shape[1], 16, 0, torch.device("cpu"))
    stats.fit(((nf - mean) / std)[:, channels])
    vf = det.features(list(train.validation["image_path"]))
    maps = stats.score(((vf - mean) / std)[:, channels])
    maps = F.interpolate(maps[:, None], size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0]
    masks = np.stack([load_mask(list(r.mask_paths), SIZE) for r in train.validation.itertuples()])
    return average_precision_score(masks.reshape(-1), maps.numpy().reshape(-1))


def test_auto_keeps_the_statistic_whose_map_scores_better_on_the_validation_fold(tiny_set, tmp_path):
    """`auto` (the default) scores PaDiM's and PatchCore's statistic on the validation fold, keeps
    the better, and says so in the curve's step 0."""
    train, _ = tiny_set
    train = _with_validation(tmp_path, train)
    det = ResidualSegmenter(TINY, _ctx(tmp_path), seed=0)
    det.fit(train)
    expected = {"gaussian": _validation_ap(det, train, GaussianMap(0.01)),
                "knn": _validation_ap(det, train, NearestNeighbourMap(bank_fraction=0.1, seed=0), standardised=False)}
    assert det.one_class_scores == pytest.approx(expected, abs=2e-3)
    chosen = max(expected, key=expected.get)
    assert det._one_class.kind == chosen
    step0 = det.training_curve[0]
    assert step0["one_class_knn"] == float(chosen == "knn")
    assert step0["val_pixel_ap"] == pytest.approx(expected[chosen], abs=2e-3)
    assert step0["val_pixel_ap_gaussian"] == det.one_class_scores["gaussian"]


def test_auto_predicts_the_chosen_statistic_and_falls_back_to_gaussian_without_validation(tiny_set, tmp_path,
                                                                                        monkeypatch):
    train, test = tiny_set
    scores = iter([0.1, 0.2, 0.5, 0.4, 0.3])  # gaussian, knn, then steps 0, 2, 4 (training made it worse)
    monkeypatch.setattr("detectors.residual_seg.average_precision", lambda *_: next(scores))
    det = ResidualSegmenter(TINY, _ctx(tmp_path), seed=0)
    det.fit(_with_validation(tmp_path, train))
    assert det._one_class.kind == "knn" and det.selected_step == 0
    # PatchCore's distances: the backbone's own units, not the standardised features the head sees
    feats = det.features(list(test["image_path"]))
    knn = NearestNeighbourMap(bank_fraction=0.1, seed=0).fit(det.features(list(train.normal))[:, det._one_class.channels])
    raw = knn.score(feats[:, det._one_class.channels])[:, None]
    z = (raw - det._one_class.mu) / det._one_class.sd
    one_class = F.interpolate(z, size=(SIZE, SIZE), mode="bilinear", align_corners=False)[:, 0]
    np.testing.assert_allclose(det.predict(test).anomaly_maps, one_class.numpy() - 3.0, atol=1e-4)

    alone = ResidualSegmenter(TINY, _ctx(tmp_path, name="alone"), seed=0)
    alone.fit(train)  # no validation fold: nothing to choose on
    assert alone._one_class.kind == "gaussian" and alone.one_class_scores == {}


def test_generated_pairs_reach_the_head_and_same_seed_same_numbers(tiny_set, tmp_path):
    train, test = tiny_set
    a = ResidualSegmenter(TINY, _ctx(tmp_path, name="a"), seed=0)
    a.fit(train)
    assert a.anomalous_training_pixels > 0
    b = ResidualSegmenter(TINY, _ctx(tmp_path, name="b"), seed=0)
    b.fit(train)
    np.testing.assert_array_equal(a.predict(test).anomaly_maps, b.predict(test).anomaly_maps)


def _fit_on_cpu_and_fake_gpu(params, train, test, tmp_path):
    """The detector fitted on the CPU and on the fake GPU; the device's predictions are checked
    against the CPU's here, the rest by the caller (the device detector's attributes are read
    inside the fake-GPU context)."""
    cpu = ResidualSegmenter(params, _ctx(tmp_path, name="cpu"), seed=0)
    cpu.fit(train)
    before = fakegpu.ops_run
    with fakegpu.fake_gpu() as dev:
        det = ResidualSegmenter(params, _ctx(tmp_path, dev, name="gpu"), seed=0)
        det.fit(train)
        preds = det.predict(test)
        assert det._one_class.channels.device == dev
        assert det._one_class.units is None or det._one_class.units[1].device == dev
    assert fakegpu.ops_run > before
    # the CPU's values up to float rounding: bit-identical alone, ~1e-5 apart after other tests in one
    # process (as in tests/contract/test_detectors.py); a device mix raises, it does not round
    np.testing.assert_allclose(preds.anomaly_maps, cpu.predict(test).anomaly_maps, rtol=1e-4, atol=1e-4)
    return cpu, det


def test_knn_statistics_on_the_fake_gpu_match_the_cpu(tiny_set, tmp_path):
    train, test = tiny_set
    _fit_on_cpu_and_fake_gpu({**TINY, "one_class": "knn", "bank_fraction": 0.5}, train, test, tmp_path)


def test_auto_on_the_fake_gpu_chooses_and_predicts_as_on_the_cpu(tiny_set, tmp_path):
    """`auto` scores both statistics on the validation fold where the features are (the device)
    and keeps the same one as the CPU, with the same validation APs and maps."""
    train, test = tiny_set
    cpu, det = _fit_on_cpu_and_fake_gpu(TINY, _with_validation(tmp_path, train), test, tmp_path)
    assert det._one_class.kind == cpu._one_class.kind
    assert det.one_class_scores == pytest.approx(cpu.one_class_scores, abs=1e-4)


def test_predict_before_fit_is_an_error(tmp_path):
    with pytest.raises(RuntimeError, match="fit"):
        ResidualSegmenter(TINY, _ctx(tmp_path), seed=0).predict(pd.DataFrame({"image_path": []}))
