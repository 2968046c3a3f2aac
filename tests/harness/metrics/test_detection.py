"""Detection metrics: scikit-learn agreement, hand-computed F1-max and AUPRO, table handling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import ndimage
from sklearn.metrics import average_precision_score, roc_auc_score

from harness.core import Predictions
from harness.core.io import save_png
from harness.metrics.detection import compute_detection_metrics, f1_max
from harness.metrics.spro import aupro


def _table(tmp_path, masks: list[np.ndarray | None], saturations=None) -> pd.DataFrame:
    rows = []
    for i, m in enumerate(masks):
        img = tmp_path / f"img{i}.png"
        save_png(np.zeros((8, 8, 3), np.uint8), img)
        paths = []
        if m is not None:
            paths = [str(tmp_path / f"mask{i}.png")]
            save_png(m, paths[0])
        sats = saturations[i] if saturations else [(1.0, True)] * len(paths)
        rows.append(dict(image_path=str(img), mask_paths=paths, mask_saturation=sats, label=int(m is not None),
                         defect_type="good" if m is None else "x", anomaly_kind="", split="test", category="c"))
    return pd.DataFrame(rows)


def test_f1_max_hand_computed():
    # thresholds 0.8: P1 R.5 → .667; 0.4: P.5 R.5; 0.35: P2/3 R1 → .8; 0.1: P.5 R1 → .667
    assert f1_max(np.array([0, 0, 1, 1]), np.array([0.1, 0.4, 0.35, 0.8])) == pytest.approx(0.8)
    assert f1_max(np.array([0, 1]), np.array([0.0, 1.0])) == pytest.approx(1.0)


def test_aupro_perfect_and_half_region():
    gt = np.zeros((2, 4, 4), bool)
    gt[1, 1:3, 1] = True  # one region of 2 pixels
    maps = gt.astype(np.float32)
    assert aupro(maps, gt) == pytest.approx(1.0)
    maps[1, 2, 1] = 0.0  # half the region found at t=1: (0,0)→(0,.5)→(1,1)
    assert aupro(maps, gt) == pytest.approx(0.3 * (0.5 + 0.65) / 2 / 0.3)


def test_aupro_interpolates_at_max_fpr_and_counts_ok_pixels_of_all_images():
    gt = np.zeros((1, 1, 11), bool)
    gt[0, 0, 0] = True
    maps = np.zeros((1, 1, 11), np.float32)
    maps[0, 0, 0] = 0.5
    maps[0, 0, 1] = 0.9  # one of 10 ok pixels above the defect: FPR .1 at PRO 0, then PRO 1
    assert aupro(maps, gt) == pytest.approx(0.2 / 0.3)


def test_aupro_regions_are_8_connected_and_averaged_not_pixel_weighted():
    gt = np.zeros((1, 5, 5), bool)
    gt[0, 0, 0] = gt[0, 1, 1] = True  # diagonal pair: one region under 8-connectivity
    gt[0, 4, 4] = True  # a second region
    maps = np.zeros((1, 5, 5), np.float32)
    maps[0, 0, 0] = 1.0
    # PRO(1) = mean(1/2, 0) = .25 (4-connectivity would give 1/3); FPR(1) = 0
    expected = 0.3 * (0.25 + (0.25 + 0.75 * 0.3)) / 2 / 0.3
    assert aupro(maps, gt) == pytest.approx(expected)


def _brute_aupro(maps, gt, max_fpr=0.3):
    """Definition, threshold by threshold (slow): mean region overlap vs FPR on ok pixels."""
    regions = []
    for i in range(gt.shape[0]):
        lab, n = ndimage.label(gt[i], structure=np.ones((3, 3)))
        regions += [(i, lab == k) for k in range(1, n + 1)]
    ok = ~gt
    pts = [(0.0, 0.0)]
    for t in np.unique(maps)[::-1]:
        pred = maps >= t
        fpr = (pred & ok).sum() / ok.sum()
        pro = np.mean([(pred[i] & r).sum() / r.sum() for i, r in regions])
        pts.append((fpr, pro))
    x, y = np.array(pts).T
    xs = np.append(x[x <= max_fpr], max_fpr)
    ys = np.append(y[x <= max_fpr], np.interp(max_fpr, x, y))
    return np.trapezoid(ys, xs) / max_fpr


def test_aupro_matches_the_definition_on_random_maps():
    rng = np.random.default_rng(3)
    gt = np.zeros((4, 16, 16), bool)
    gt[1, 2:6, 3:9] = True
    gt[1, 10:12, 10:15] = True
    gt[2, 5:14, 5:7] = True
    maps = (rng.random(gt.shape) + gt * rng.random(gt.shape)).astype(np.float32)
    maps = np.round(maps, 2)  # ties
    assert aupro(maps, gt) == pytest.approx(_brute_aupro(maps, gt), abs=1e-9)


def test_metrics_agree_with_sklearn_and_read_masks_from_the_table(tmp_path):
    rng = np.random.default_rng(0)
    m1 = np.zeros((8, 8), bool)
    m1[2:5, 2:6] = True
    m2 = np.zeros((8, 8), bool)
    m2[6:8, 0:3] = True
    table = _table(tmp_path, [None, m1, None, m2, None])
    maps = rng.random((5, 8, 8)).astype(np.float32)
    scores = rng.random(5)
    res = compute_detection_metrics(table, Predictions(scores, maps), image_size=8)
    labels = table["label"].to_numpy()
    gt = np.stack([np.zeros((8, 8), bool), m1, np.zeros((8, 8), bool), m2, np.zeros((8, 8), bool)])
    assert res["image_auroc"] == roc_auc_score(labels, scores)
    assert res["image_ap"] == average_precision_score(labels, scores)
    assert res["pixel_auroc"] == roc_auc_score(gt.ravel(), maps.ravel())
    assert res["pixel_ap"] == average_precision_score(gt.ravel(), maps.ravel())
    assert res["pixel_aupro"] == pytest.approx(aupro(maps, gt))
    assert "spro" not in res  # plain PRO saturations: not a LOCO table


def test_perfect_predictions_score_one_and_raw_values_are_not_rescaled(tmp_path):
    m = np.zeros((8, 8), bool)
    m[1:4, 1:4] = True
    table = _table(tmp_path, [None, m])
    maps = np.stack([np.zeros((8, 8)), m * 1000.0]).astype(np.float32) - 5.0  # raw, unbounded
    res = compute_detection_metrics(table, Predictions(np.array([-3.0, 7.0]), maps), image_size=8)
    for key in ("image_auroc", "image_ap", "image_f1max", "pixel_auroc", "pixel_ap", "pixel_f1max", "pixel_aupro"):
        assert res[key] == pytest.approx(1.0), key


def test_loco_saturation_adds_spro(tmp_path):
    m = np.zeros((8, 8), bool)
    m[0:2, 0:5] = True  # 10 px, saturates at 50 % = 5 px
    table = _table(tmp_path, [None, m], saturations=[[], [(0.5, True)]])
    maps = np.zeros((2, 8, 8), np.float32)
    maps[1, 0, 0:3] = 1.0
    res = compute_detection_metrics(table, Predictions(np.array([0.0, 1.0]), maps), image_size=8)
    assert res["spro"] == pytest.approx((0.6 + 0.62) / 2)


def test_wrong_map_size_is_a_clear_error(tmp_path):
    table = _table(tmp_path, [None, np.ones((8, 8), bool)])
    with pytest.raises(ValueError, match="image_size"):
        compute_detection_metrics(table, Predictions(np.zeros(2), np.zeros((2, 4, 4), np.float32)), image_size=8)
