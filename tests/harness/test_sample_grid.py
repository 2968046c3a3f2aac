"""The sample grid: one row per pair, image | mask | overlay, the mask's area tinted red."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core import AnomalyPair
from harness.sample_grid import sample_grid


def _pair(value: int, defect_type: str = "scratch") -> AnomalyPair:
    image = np.full((32, 40, 3), value, np.uint8)
    mask = np.zeros((32, 40), bool)
    mask[10:20, 12:30] = True
    return AnomalyPair(image, mask, defect_type)


def test_layout_and_panels():
    pairs = [_pair(100), _pair(150)]
    grid = sample_grid(pairs)
    assert grid.dtype == np.uint8 and grid.shape == (2 * 32 + 2, 3 * 40 + 4, 3)
    # row 0: the image panel is the image
    assert np.array_equal(grid[:32, :40], pairs[0].image)
    # the mask panel is white inside the mask, black outside
    mask_panel = grid[:32, 42:82]
    assert (mask_panel[pairs[0].mask] == 255).all() and (mask_panel[~pairs[0].mask] == 0).all()
    # the overlay is red-tinted inside the mask (away from the outline), untouched outside (away from the label)
    overlay = grid[34:66, 84:124]
    inner = overlay[13:17, 15:27]
    assert (inner[..., 0] > inner[..., 1] + 50).all()
    assert np.array_equal(overlay[25:, :], pairs[1].image[25:, :])


def test_label_is_drawn_and_rows_are_capped():
    grid = sample_grid([_pair(100, "crack")] * 10, max_rows=3)
    assert grid.shape[0] == 3 * 32 + 2 * 2
    label_area = grid[:10, 84:124]
    assert (label_area.max(axis=2) > 180).any() and (label_area == 0).all(axis=2).any()  # light text on black


def test_empty_and_bad_arguments():
    empty = sample_grid([])
    assert empty.ndim == 3 and empty.dtype == np.uint8 and empty.any()
    with pytest.raises(ValueError, match="max_rows"):
        sample_grid([_pair(1)], max_rows=0)


def test_differently_sized_pairs_are_resized_to_the_first():
    small = AnomalyPair(np.zeros((16, 20, 3), np.uint8), np.ones((16, 20), bool), "x")
    grid = sample_grid([_pair(100), small])
    assert grid.shape == (2 * 32 + 2, 3 * 40 + 4, 3)
