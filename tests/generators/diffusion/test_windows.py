"""Anomaly-centred diffusion windows: sizes, placement around the defect, alignment, crops, and
the windowed composite that keeps the canvas exactly outside the mask."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from generators.diffusion.sampling import composite_full_size
from generators.diffusion.windows import JITTER, anomaly_box, crop, load_side, random_box


def test_load_side():
    assert load_side(64, 1.0) == 64
    assert load_side(64, 0.5) == 128
    with pytest.raises(ValueError, match=r"window must be in \(0, 1\]"):
        load_side(64, 1.5)


def test_whole_image_window_draws_no_randomness():
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    assert random_box(32, 32, rng, 2) == (0, 0)
    assert anomaly_box(torch.ones(1, 32, 32), 32, rng, 2) == (0, 0)
    assert rng.bit_generator.state == state  # window = 1 trains exactly as without windows


def test_anomaly_box_is_around_the_defect_and_aligned():
    mask = torch.zeros(1, 128, 128)
    mask[0, 100:110, 20:26] = 1  # bbox centre (105, 23)
    rng = np.random.default_rng(1)
    for _ in range(200):
        y, x = anomaly_box(mask, 64, rng, 2)
        assert y % 2 == 0 and x % 2 == 0 and 0 <= y <= 64 and 0 <= x <= 64
        # the window centre is the defect centre ± jitter (clamped to the image)
        assert abs(min(y + 32, 96) - min(105, 96)) <= JITTER * 64 + 2
        assert abs(max(x + 32, 32) - max(23, 32)) <= JITTER * 64 + 2
        assert mask[0, y:y + 64, x:x + 64].sum() > 0  # the defect is in the window
    boxes = {random_box(128, 64, rng, 2) for _ in range(50)}
    assert len(boxes) > 10 and all(0 <= y <= 64 and 0 <= x <= 64 for y, x in boxes)


def test_crop_takes_each_items_window():
    t = torch.arange(2 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8)
    out = crop(t, [(0, 0), (4, 2)], 4)
    assert out.shape == (2, 1, 4, 4)
    assert torch.equal(out[0], t[0, :, :4, :4]) and torch.equal(out[1], t[1, :, 4:8, 2:6])


def test_windowed_composite_pastes_into_the_window_only():
    canvas = np.random.default_rng(0).integers(0, 256, (128, 128, 3), dtype=np.uint8)
    gen = torch.ones(3, 32, 32)  # white window
    small = np.zeros((32, 32), bool)
    small[10:20, 5:9] = True
    image, mask = composite_full_size(canvas, gen, small, box=(16, 8, 64))  # window 32 of a 64-px load
    expect = np.zeros((128, 128), bool)
    expect[32 + 20:32 + 40, 16 + 10:16 + 18] = True  # window (16, 8) at 2x scale, mask rows 10:20, cols 5:9
    assert np.array_equal(mask, expect)
    assert np.array_equal(image[~mask], canvas[~mask]) and (image[mask] == 255).all()
    outside = np.zeros((128, 128), bool)
    outside[0:4, 0:4] = True
    with pytest.raises(ValueError, match="outside the generated window"):
        composite_full_size(canvas, gen, small, full_mask=outside, box=(16, 8, 64))
