"""NSA: Poisson-blended patches from another image; the mask holds every pixel that changed."""

from __future__ import annotations

import numpy as np
import pytest

from harness.core import GENERATORS, ParamError, RunContext


def make(params=None, size=64):
    return GENERATORS.get("nsa")(params, RunContext(category="synthetic", image_size=size))


@pytest.mark.parametrize("params", [None, {"placement": "anywhere"}, {"mode": "mix"}])
def test_mask_holds_every_changed_pixel(params, object_canvases, check_contract, source_canvas):
    gen = make(params)
    gen.fit(object_canvases, [], seed=0)
    pairs = gen.sample(10, normal_images=object_canvases, seed=1)
    check_contract(pairs, 10, (64, 64), defect_type="nsa")
    for pair in pairs:
        canvas = source_canvas(pair, object_canvases)
        change = np.abs(pair.image.astype(float) - canvas).mean(axis=2)
        assert change[~pair.mask].max(initial=0) <= 1.0  # tol
        assert (change[pair.mask] > 1.0).mean() > 0.5  # the mask is mostly real change


def test_patch_content_comes_from_another_image():
    # Two flat canvases of different colours: a blended patch pulls the other colour in.
    a = np.zeros((64, 64, 3), np.uint8) + np.array([200, 40, 40], np.uint8)
    b = np.zeros((64, 64, 3), np.uint8) + np.array([40, 40, 200], np.uint8)
    rng = np.random.default_rng(0)
    a = np.clip(a + rng.normal(0, 20, a.shape), 0, 255).astype(np.uint8)
    b = np.clip(b + rng.normal(0, 20, b.shape), 0, 255).astype(np.uint8)
    gen = make({"placement": "anywhere"})
    gen.fit([a, b], [], seed=0)
    for pair in gen.sample(6, normal_images=[a, b], seed=2):
        base = a if pair.image[~pair.mask][:, 0].mean() > 120 else b
        inside = pair.image[pair.mask].astype(float)
        # Poisson cloning keeps the source's texture (gradients), not its colour: the noise inside
        # the patch must differ from the canvas's own noise there.
        assert np.abs(inside - base[pair.mask]).mean() > 5


def test_intensity_logistic_mask_is_the_strongly_changed_part(object_canvases, source_canvas):
    binary, logistic = make({"placement": "anywhere"}), make({"placement": "anywhere", "intensity_logistic": True})
    binary.fit(object_canvases, [], seed=0)
    logistic.fit(object_canvases, [], seed=0)
    for pb, pl in zip(binary.sample(6, normal_images=object_canvases, seed=3), logistic.sample(6, normal_images=object_canvases, seed=3)):
        if np.array_equal(pb.image, pl.image):  # same draw: logistic mask is a subset of the binary one
            assert not (pl.mask & ~pb.mask).any()
            assert pl.mask.sum() <= pb.mask.sum()
        canvas = source_canvas(pl, object_canvases)
        change = np.abs(pl.image.astype(float) - canvas).mean(axis=2)
        faint = change[(change > 1) & ~pl.mask]
        if faint.size:  # what the logistic label leaves out changed less than what it keeps
            assert change[pl.mask].mean() > faint.mean()


def test_object_mask_alias_overrides_placement(texture_canvases):
    with pytest.raises(ValueError, match="placement 'object'"):
        make({"object_mask": True}).fit(texture_canvases, [], seed=0)
    make({"object_mask": False, "placement": "object"}).fit(texture_canvases, [], seed=0)


@pytest.mark.parametrize(
    "params",
    [
        {"width_bounds": ((0.3, 0.1), (0.03, 0.4))},
        {"width_bounds": ((0.03, 0.6), (0.03, 0.4))},
        {"resize_bounds": (1.3, 0.7)},
        {"mode": "seamless"},
        {"num_patches": 0},
        {"min_object_pct": 1.5},
    ],
)
def test_impossible_params_are_param_errors(params):
    with pytest.raises(ParamError, match="nsa"):
        make(params)
