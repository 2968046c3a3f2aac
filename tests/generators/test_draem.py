"""DRAEM: Perlin masks, blend only inside the mask, texture opacity range, seeded despite torch RNG."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image

from generators.draem import draem_augment, perlin_noise
from harness.core import GENERATORS, ParamError, RunContext


def make(params=None, size=64):
    return GENERATORS.get("draem")(params, RunContext(category="synthetic", image_size=size))


@pytest.mark.parametrize("source", ["normal", "noise"])
def test_contract_and_unchanged_outside_mask(source, object_canvases, check_contract, source_canvas):
    gen = make({"texture_source": source})
    gen.fit(object_canvases, [], seed=0)
    pairs = gen.sample(8, normal_images=object_canvases, seed=1)
    check_contract(pairs, 8, (64, 64), defect_type="draem")
    changed_any = False
    for pair in pairs:
        canvas = source_canvas(pair, object_canvases)
        assert np.array_equal(pair.image[~pair.mask], canvas[~pair.mask])
        changed_any |= bool((pair.image[pair.mask] != canvas[pair.mask]).any())
    assert changed_any


def test_blend_follows_beta(object_canvases, source_canvas):
    # beta = 1: the mask shows only texture; with a constant texture (noise off) we check the formula
    # by comparing two opacities on the same seed: a lower beta stays closer to the canvas.
    lo, hi = make({"beta": (0.2, 0.2001), "placement": "anywhere"}), make({"beta": (0.95, 0.9501), "placement": "anywhere"})
    lo.fit(object_canvases, [], seed=0)
    hi.fit(object_canvases, [], seed=0)
    a = lo.sample(4, normal_images=object_canvases, seed=3)
    b = hi.sample(4, normal_images=object_canvases, seed=3)
    for pa, pb in zip(a, b):
        assert np.array_equal(pa.mask, pb.mask)  # the beta draw comes after mask and texture
        canvas = source_canvas(pa, object_canvases)
        da = np.abs(pa.image[pa.mask].astype(int) - canvas[pa.mask]).mean()
        db = np.abs(pb.image[pb.mask].astype(int) - canvas[pb.mask]).mean()
        # |out - img| = beta * |texture - img|, so the ratio is 0.2 / 0.95 up to rounding
        assert da == pytest.approx(db * 0.2 / 0.95, abs=1.0)


def test_object_placement_keeps_masks_on_the_object(object_canvases):
    from generators.placement import estimate_foreground

    gen = make()
    gen.fit(object_canvases, [], seed=0)
    for pair in gen.sample(6, normal_images=object_canvases, seed=2):
        fgs = [estimate_foreground(c) for c in object_canvases]
        assert any(not (pair.mask & ~fg).any() for fg in fgs)


def test_deterministic_and_independent_of_global_torch_rng(object_canvases, same_pairs):
    gen = make()
    gen.fit(object_canvases, [], seed=0)
    torch.manual_seed(1)
    first = gen.sample(4, normal_images=object_canvases, seed=7)
    torch.manual_seed(12345)
    state = torch.get_rng_state()
    second = gen.sample(4, normal_images=object_canvases, seed=7)
    assert torch.equal(state, torch.get_rng_state())  # we forked, not consumed, the global RNG
    assert same_pairs(first, second)
    assert not same_pairs(first, gen.sample(4, normal_images=object_canvases, seed=8))


def test_perlin_noise_is_seeded_and_in_range():
    a, b = perlin_noise(64, 64, (4, 8), seed=3), perlin_noise(64, 64, (4, 8), seed=3)
    assert np.array_equal(a, b)
    assert not np.array_equal(a, perlin_noise(64, 64, (4, 8), seed=4))
    assert a.shape == (64, 64) and -1.5 < a.min() < 0 < a.max() < 1.5


def test_augment_keeps_shape_and_dtype():
    img = np.random.default_rng(0).integers(0, 256, (32, 32, 3), dtype=np.uint8)
    out = draem_augment(img, np.random.default_rng(1), 3)
    assert out.shape == img.shape and out.dtype == np.uint8


def test_dtd_textures_are_read_from_the_folder(tmp_path, object_canvases, check_contract):
    rng = np.random.default_rng(0)
    for k in range(2):
        Image.fromarray(rng.integers(0, 256, (40, 50, 3), dtype=np.uint8)).save(tmp_path / f"t{k}.jpg")
    gen = make({"texture_source": "dtd", "dtd_dir": str(tmp_path)})
    gen.fit(object_canvases, [], seed=0)
    check_contract(gen.sample(3, normal_images=object_canvases, seed=1), 3, (64, 64))


def test_missing_dtd_folder_is_a_clear_error(tmp_path, object_canvases):
    gen = make({"texture_source": "dtd", "dtd_dir": str(tmp_path / "nope")})
    with pytest.raises(ValueError, match="DTD folder not found"):
        gen.fit(object_canvases, [], seed=0)


@pytest.mark.parametrize(
    "params",
    [
        {"beta": (0.5, 0.1)},
        {"beta": (-0.1, 0.5)},
        {"beta": (0.5, 1.5)},
        {"perlin_scale_exponents": (3, 3)},
        {"texture_source": "dtd"},
        {"dtd_dir": "/x"},
        {"augmentations": 11},
        {"perlin": 1},
    ],
)
def test_impossible_params_are_param_errors(params):
    with pytest.raises(ParamError, match="draem"):
        make(params)
