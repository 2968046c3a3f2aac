"""Mask statistics and mask–image consistency on hand-built masks."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core import AnomalyPair
from harness.metrics.mask_stats import mask_image_consistency, mask_statistics, statistic_distances


def _mask(h=10, w=10, boxes=()):
    m = np.zeros((h, w), bool)
    for r0, r1, c0, c1 in boxes:
        m[r0:r1, c0:c1] = True
    return m


def test_area_components_and_centroid():
    diag = np.zeros((10, 10), bool)
    diag[2, 2] = diag[3, 3] = True  # diagonal neighbours: one 8-connected component
    stats = mask_statistics([_mask(boxes=[(0, 2, 0, 5)]), _mask(boxes=[(0, 1, 0, 1), (8, 10, 8, 10)]), diag,
                             _mask()])
    np.testing.assert_allclose(stats["area_fraction"], [0.10, 0.05, 0.02, 0.0])
    np.testing.assert_array_equal(stats["component_count"], [1, 2, 1, 0])
    # centroids of non-empty masks only, image-relative ((row + 0.5) / H)
    # second mask: rows 0, 8, 8, 9, 9 → mean 6.8 → (6.8 + 0.5) / 10
    np.testing.assert_allclose(stats["centroid_row"], [0.10, 0.73, 0.30])
    np.testing.assert_allclose(stats["centroid_col"], [0.25, 0.73, 0.30])


def test_wasserstein_distances():
    real = mask_statistics([_mask(boxes=[(0, 2, 0, 2)]), _mask(boxes=[(5, 7, 5, 7)])])
    same = statistic_distances(real, real)
    assert same["area_fraction"] == (0.0, None) and same["component_count"] == (0.0, None)
    assert same["centroid"] == (0.0, None)
    # every generated mask is the real one shifted down 2 rows: position distance = (0.2 + 0) / 2
    shifted = mask_statistics([_mask(boxes=[(2, 4, 0, 2)]), _mask(boxes=[(7, 9, 5, 7)])])
    d = statistic_distances(shifted, real)
    assert d["centroid"][0] == pytest.approx(0.1)
    assert d["area_fraction"][0] == pytest.approx(0.0)
    bigger = mask_statistics([_mask(boxes=[(0, 4, 0, 2)]), _mask(boxes=[(0, 4, 0, 2), (6, 8, 6, 8)])])
    d = statistic_distances(bigger, real)
    assert d["area_fraction"][0] == pytest.approx(0.06)  # areas {0.08, 0.12} vs {0.04, 0.04}
    assert d["component_count"][0] == pytest.approx(0.5)  # counts {1, 2} vs {1, 1}


def test_empty_sides_are_reported_not_zero():
    real = mask_statistics([_mask(boxes=[(0, 2, 0, 2)])])
    empty = mask_statistics([_mask(), _mask()])
    d = statistic_distances(empty, real)
    assert d["centroid"][0] is None and "no non-empty generated masks" in d["centroid"][1]
    none = statistic_distances(mask_statistics([]), real)
    assert none["area_fraction"][0] is None and "no generated masks" in none["area_fraction"][1]


def test_mask_image_consistency():
    canvas = np.zeros((8, 8, 3), np.uint8)
    mask = _mask(8, 8, [(0, 4, 0, 4)])
    inside = canvas.copy()
    inside[0:2, 0:4] = 200  # 8 changed pixels, all inside a 16-pixel mask
    c = mask_image_consistency([(canvas, inside, mask)])
    assert c["mask_precision"] == 1.0 and c["mask_coverage"] == 0.5
    leaky = inside.copy()
    leaky[7, 0:8] = 3  # 8 more changed pixels, outside
    pair = AnomalyPair(leaky, mask, "x")
    c = mask_image_consistency([(canvas, pair)])  # (canvas, AnomalyPair) also accepted
    assert c["mask_precision"] == 0.5 and c["changed_pixels"] == 16
    assert mask_image_consistency([(canvas, leaky, mask)], tolerance=5)["mask_precision"] == 1.0
    assert mask_image_consistency([(canvas, canvas, mask)])["mask_precision"] is None
    with pytest.raises(ValueError, match="same size"):
        mask_image_consistency([(canvas[:4], leaky, mask)])
