"""Foreground estimate and placement: objects are found, textures are not, positions obey the region."""

from __future__ import annotations

import numpy as np
import pytest

from generators.placement import Placement, estimate_foreground, sample_position


def test_finds_the_drawn_object(object_canvases):
    yy, xx = np.mgrid[:64, :64]
    for img in object_canvases:
        fg = estimate_foreground(img)
        assert fg is not None
        # the ellipse is dark, the background light: the foreground is where the image is dark
        truth = img.mean(axis=2) < 150
        iou = (fg & truth).sum() / (fg | truth).sum()
        assert iou > 0.85


def test_no_foreground_on_textures_or_flat_images(texture_canvases):
    for img in texture_canvases:
        assert estimate_foreground(img) is None
    assert estimate_foreground(np.full((64, 64, 3), 90, np.uint8)) is None


def test_auto_mode_decides_from_the_images(object_canvases, texture_canvases):
    p = Placement("auto")
    p.fit(object_canvases, generator="g")
    assert p.use_object and p.region(object_canvases[0]) is not None
    p = Placement("auto")
    p.fit(texture_canvases, generator="g")
    assert not p.use_object and p.region(texture_canvases[0]) is None


def test_object_mode_without_object_is_a_clear_error(texture_canvases):
    with pytest.raises(ValueError, match="placement 'object'.*auto or anywhere"):
        Placement("object").fit(texture_canvases, generator="g")


def test_region_before_fit_is_an_error(object_canvases):
    with pytest.raises(RuntimeError, match="fit"):
        Placement("auto").region(object_canvases[0])


def test_sample_position_respects_region_and_bounds():
    rng = np.random.default_rng(0)
    region = np.zeros((64, 64), bool)
    region[40:60, 5:25] = True
    for _ in range(50):
        y, x = sample_position(rng, (64, 64), 10, 8, region=region)
        assert 0 <= y <= 54 and 0 <= x <= 56
        assert region[y + 5, x + 4]
        assert region[y : y + 10, x : x + 8].mean() >= 0.5
    for _ in range(50):
        y, x = sample_position(rng, (64, 64), 64, 10)
        assert y == 0 and 0 <= x <= 54
    with pytest.raises(ValueError, match="does not fit"):
        sample_position(rng, (64, 64), 65, 10)
