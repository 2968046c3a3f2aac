"""sPRO (MVTec LOCO): hand-built saturation cases, multi-mask defects, FPR on good images only."""

from __future__ import annotations

import numpy as np
import pytest

from harness.metrics.spro import Defect, saturation_pixels, spro


def _defect(idx, mask, thr, rel=True):
    return Defect(idx, mask, saturation_pixels(mask, thr, rel))


def _bar(n: int) -> np.ndarray:
    m = np.zeros((4, 8), bool)
    m.flat[:n] = True
    return m


def test_full_overlap_is_one():
    mask = _bar(10)
    maps = np.zeros((2, 4, 8), np.float32)
    maps[1][mask] = 1.0
    assert spro(maps, [_defect(1, mask, 1.0)], good_images=[0]) == pytest.approx(1.0)


def test_partial_overlap_below_saturation():
    mask = _bar(10)  # relative 0.5 → saturates at 5 px
    maps = np.zeros((2, 4, 8), np.float32)
    maps[1].flat[:3] = 1.0  # 3 TP → 0.6 at FPR 0, then (1, 1)
    assert spro(maps, [_defect(1, mask, 0.5)], good_images=[0]) == pytest.approx((0.6 + 0.62) / 2)


def test_partial_overlap_above_saturation_counts_as_full():
    mask = _bar(10)
    maps = np.zeros((2, 4, 8), np.float32)
    maps[1].flat[:6] = 1.0  # 6 TP ≥ 5 → 1
    assert spro(maps, [_defect(1, mask, 0.5)], good_images=[0]) == pytest.approx(1.0)


def test_absolute_saturation_is_capped_at_the_defect_area_and_rescaled():
    mask = _bar(10)
    assert saturation_pixels(mask, 4.0, False) == 4.0
    assert saturation_pixels(mask, 400.0, False) == 10.0
    assert saturation_pixels(mask, 4.0, False, area_scale=0.5) == 2.0
    maps = np.zeros((2, 4, 8), np.float32)
    maps[1].flat[:2] = 1.0  # 2 of 4 px needed → 0.5
    assert spro(maps, [_defect(1, mask, 4.0, rel=False)], [0]) == pytest.approx((0.5 + 0.525) / 2)


def test_logical_multi_mask_defects_are_averaged_per_file():
    a, b = np.zeros((4, 8), bool), np.zeros((4, 8), bool)
    a[0, :4] = True
    b[3, 4:] = True
    maps = np.zeros((2, 4, 8), np.float32)
    maps[1][a] = 1.0  # first defect found, second missed: sPRO(1) = 0.5
    got = spro(maps, [_defect(1, a, 1.0), _defect(1, b, 1.0)], good_images=[0])
    assert got == pytest.approx((0.5 + 0.525) / 2)


def test_fpr_ignores_anomalous_images_background():
    mask = _bar(10)
    maps = np.zeros((2, 4, 8), np.float32)
    maps[1][mask] = 1.0
    maps[1][~mask] = 5.0  # loud background on the anomalous image: not a false positive for sPRO
    assert spro(maps, [_defect(1, mask, 1.0)], good_images=[0]) == pytest.approx(1.0)
    maps[0].flat[:4] = 5.0  # 4/32 = 12.5 % FPR on the good image before any TP: beyond 0.05 → 0
    assert spro(maps, [_defect(1, mask, 1.0)], good_images=[0]) == pytest.approx(0.0)


def test_no_defects_or_no_good_images_is_nan():
    maps = np.zeros((1, 4, 8), np.float32)
    assert np.isnan(spro(maps, [], [0]))
    assert np.isnan(spro(maps, [_defect(0, _bar(3), 1.0)], []))
