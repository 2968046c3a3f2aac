"""The on-object generation metric on hand-made images and masks."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core.generator import AnomalyPair
from harness.metrics import generation as G

S = 64


def _scene(seed: int) -> np.ndarray:
    """Dark table, a light grey square object at rows/cols 16..47."""
    rng = np.random.default_rng(seed)
    img = np.clip(40 + rng.normal(0, 3, (S, S, 3)), 0, 255)
    img[16:48, 16:48] = np.clip(190 + rng.normal(0, 3, (32, 32, 3)), 0, 255)
    return img.astype(np.uint8)


def _pair(seed: int, rows: slice, cols: slice, colour=(255, 0, 0), defect="dent") -> AnomalyPair:
    img = _scene(seed)
    mask = np.zeros((S, S), bool)
    mask[rows, cols] = True
    img[mask] = colour
    return AnomalyPair(img, mask, defect)


def test_masks_on_the_object_score_one_off_it_zero_and_halves_half():
    on = [_pair(i, slice(20, 28), slice(20, 28)) for i in range(4)]
    off = [_pair(i, slice(2, 10), slice(2, 10), defect="spot") for i in range(4)]
    half = [_pair(i, slice(30, 34), slice(40, 56)) for i in range(4)]  # cols 40..47 on, 48..55 off
    res = G.on_object_metrics(on, off)
    assert res["mask_on_object"].value == pytest.approx(1.0)
    assert res["mask_on_object_real"].value == pytest.approx(0.0)  # painted defects do not make themselves object
    # the estimate is smooth at the boundary: within a pixel column of the true edge
    assert G.on_object_metrics(half, on)["mask_on_object"].value == pytest.approx(0.5, abs=1 / 16 + 1e-9)
    mixed = G.on_object_metrics(on + off, on)["mask_on_object"]
    assert mixed.value == pytest.approx(0.5)
    assert mixed.params["per_defect_type"] == {"dent": pytest.approx(1.0), "spot": pytest.approx(0.0)}


def test_texture_is_unavailable_with_the_reason():
    rng = np.random.default_rng(0)
    pairs = [AnomalyPair(rng.integers(0, 256, (S, S, 3), dtype=np.uint8), np.eye(S, dtype=bool), "x") for _ in range(3)]
    res = G.on_object_metrics(pairs, pairs)["mask_on_object"]
    assert res.value is None and "texture" in res.unavailable


def test_generation_metrics_records_both_keys(tmp_path):
    gen = [_pair(i, slice(20, 28), slice(20, 28)) for i in range(3)]
    real = [_pair(i + 10, slice(2, 6), slice(30, 40)) for i in range(2)]  # above the object
    res = G.generation_metrics(gen, real, weights_dir=tmp_path / "wd", download=False,
                               only=["mask_on_object", "mask_on_object_real"])
    assert set(res) == {"mask_on_object", "mask_on_object_real"}
    assert res["mask_on_object"].value == pytest.approx(1.0)
    assert res["mask_on_object_real"].value == pytest.approx(0.0)
