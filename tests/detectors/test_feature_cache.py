"""Frozen-backbone feature cache: what a key covers, hits and misses, damaged files, the per-row memo."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from detectors.feature_cache import CachedModule, FeatureCache, cache_key, weights_identity
from detectors.frozen_seg import FrozenEncoderSegmenter
from harness.core.io import file_sha256, save_png
from harness.core import RunContext

SMALL = {"max_steps": 3, "eval_every": 1, "batch_size": 4}


@pytest.fixture(scope="module", autouse=True)
def _backbone_code_imported():
    """anomalib's feature extractors take ~7 s to import once: pay it here, not in the first test."""
    import anomalib.models.components.feature_extractors  # noqa: F401


def _det(tmp_path: Path, cache: str = "features", *, image_size: int = 48, **params) -> FrozenEncoderSegmenter:
    ctx = RunContext(category="tiny", image_size=image_size, work_dir=tmp_path / "w", show_progress=False,
                     cache_dir=tmp_path / cache)
    return FrozenEncoderSegmenter({**SMALL, **params}, ctx, seed=0)


def _files(tmp_path: Path, cache: str = "features") -> list[Path]:
    return sorted((tmp_path / cache).glob("*.pt"))


# -- cache_key ------------------------------------------------------------------------

BASE = dict(image_hashes=["a" * 64, "b" * 64], backbone="tf_efficientnet_lite0", layers=["blocks.1", "blocks.2"],
            input_size=48, weights="default", extra={"image_size": 48})


def _key(**changes) -> str:
    kw = {**BASE, **changes}
    return cache_key(kw.pop("image_hashes"), **kw)


def test_cache_key_is_stable():
    assert _key() == _key()
    assert _key() == cache_key(list(BASE["image_hashes"]), backbone="tf_efficientnet_lite0",
                               layers=("blocks.1", "blocks.2"), input_size=48.0, weights="default",
                               extra={"image_size": 48})
    assert len(_key()) == 16 and int(_key(), 16) >= 0


@pytest.mark.parametrize("changes", [
    {"image_hashes": ["a" * 64, "c" * 64]},           # one image's bytes changed
    {"image_hashes": ["a" * 64, "b" * 64, "c" * 64]},  # one more image
    {"image_hashes": ["b" * 64, "a" * 64]},           # order (features are stacked in order)
    {"image_hashes": ["a" * 64]},                     # one image fewer
    {"backbone": "resnet18"},
    {"layers": ["blocks.1"]},
    {"layers": ["blocks.2", "blocks.1"]},
    {"input_size": 64},
    {"weights": "file:0123"},
    {"extra": {"image_size": 32}},
], ids=["image-bytes", "one-more-image", "image-order", "one-fewer-image", "backbone", "fewer-layers",
        "layer-order", "input-size", "weights", "image-size"])
def test_cache_key_changes_with_every_input(changes):
    assert _key(**changes) != _key()


def test_weights_identity(tmp_path):
    assert weights_identity(None) == weights_identity("") == "default"
    f = tmp_path / "w.pt"
    f.write_bytes(b"weights")
    assert weights_identity(f) == f"file:{file_sha256(f)}"


# -- FeatureCache through frozen-seg's features ----------------------------------------


def _assert_same(a: torch.Tensor, b: torch.Tensor) -> None:
    assert a.shape == b.shape and a.dtype == b.dtype
    assert torch.equal(a, b)


def test_features_miss_then_hit_across_instances(tiny_set, tmp_path):
    train, _ = tiny_set
    paths = train.normal[:5]
    first = _det(tmp_path)
    a = first.features(paths)
    assert (first.cache.misses, first.cache.hits) == (1, 0)
    assert a.ndim == 4 and a.shape[0] == 5 and torch.isfinite(a).all()
    assert len(_files(tmp_path)) == 1

    again = _det(tmp_path)  # a new detector, the same cache_dir
    b = again.features(paths)
    assert (again.cache.misses, again.cache.hits) == (0, 1)
    _assert_same(a, b)
    assert again._extractor is None, "a hit must not even build the backbone"

    # the key is the bytes, not the paths: the same images copied elsewhere hit too
    moved = []
    for p in paths:
        q = tmp_path / "copy" / p.name
        q.parent.mkdir(exist_ok=True)
        shutil.copyfile(p, q)
        moved.append(q)
    third = _det(tmp_path)
    _assert_same(a, third.features(moved))
    assert (third.cache.misses, third.cache.hits) == (0, 1)
    # an explicit input_size equal to the run's image_size is the same key
    same = _det(tmp_path, input_size=48)
    same.features(paths)
    assert (same.cache.misses, same.cache.hits) == (0, 1)
    assert len(_files(tmp_path)) == 1


def test_changed_image_set_is_a_miss(tiny_set, tmp_path):
    train, _ = tiny_set
    paths = [tmp_path / "imgs" / p.name for p in train.normal[:4]]
    for src, dst in zip(train.normal, paths):
        dst.parent.mkdir(exist_ok=True)
        shutil.copyfile(src, dst)
    base = _det(tmp_path).features(paths)

    more = _det(tmp_path)
    grown = more.features([*paths, train.normal[4]])
    assert (more.cache.misses, more.cache.hits) == (1, 0)
    _assert_same(grown[:4], base)  # the same images: the same features, one more row

    # one file's bytes change (same path): its features must be recomputed
    img = np.asarray(Image.open(paths[2]).convert("RGB")).copy()
    img[:8, :8] = 0
    save_png(img, paths[2])
    changed = _det(tmp_path)
    c = changed.features(paths)
    assert (changed.cache.misses, changed.cache.hits) == (1, 0)
    assert not torch.equal(c, base)
    assert len(_files(tmp_path)) == 3


@pytest.mark.parametrize("variant", [
    {"layers": ["blocks.1", "blocks.2"]},
    {"input_size": 64},
    {"image_size": 32},
], ids=["layers", "input-size", "image-size"])
def test_other_backbone_config_is_a_miss(tiny_set, tmp_path, variant):
    train, _ = tiny_set
    paths = train.normal[:3]
    _det(tmp_path).features(paths)
    other = _det(tmp_path, **variant)
    feats = other.features(paths)
    assert (other.cache.misses, other.cache.hits) == (1, 0)
    assert len(_files(tmp_path)) == 2
    # and the new key hits in turn
    back = _det(tmp_path, **variant)
    _assert_same(feats, back.features(paths))
    assert (back.cache.misses, back.cache.hits) == (0, 1)


def test_corrupt_cache_file_is_recomputed(tiny_set, tmp_path):
    train, _ = tiny_set
    paths = train.normal[:3]
    good = _det(tmp_path).features(paths)
    (path,) = _files(tmp_path)
    path.write_bytes(b"\x00garbage, not a torch file\xff" * 10)

    det = _det(tmp_path)
    again = det.features(paths)
    assert (det.cache.misses, det.cache.hits) == (1, 0)
    _assert_same(good, again)
    # rewritten: the next one hits, and finds the right tensors
    after = _det(tmp_path)
    _assert_same(good, after.features(paths))
    assert (after.cache.misses, after.cache.hits) == (0, 1)
    assert _files(tmp_path) == [path]

    # a truncated file (a crash mid-write of a non-atomic writer) is not trusted either
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    trunc = _det(tmp_path)
    _assert_same(good, trunc.features(paths))
    assert (trunc.cache.misses, trunc.cache.hits) == (1, 0)


def test_cache_file_with_the_wrong_contents_is_recomputed(tiny_set, tmp_path):
    """A readable file under the right key that does not hold one row per image (a bad writer,
    a hand edit) is recomputed, not served."""
    train, _ = tiny_set
    paths = train.normal[:3]
    good = _det(tmp_path).features(paths)
    (path,) = _files(tmp_path)
    short = {k: v[:2] for k, v in torch.load(path, weights_only=True).items()}
    for bad in (short, {}):
        torch.save(bad, path)
        det = _det(tmp_path)
        _assert_same(good, det.features(paths))
        assert (det.cache.misses, det.cache.hits) == (1, 0)


def test_no_cache_dir_keeps_nothing(tiny_set, tmp_path):
    train, _ = tiny_set
    ctx = RunContext(category="tiny", image_size=48, work_dir=tmp_path / "w", show_progress=False)
    det = FrozenEncoderSegmenter(SMALL, ctx, seed=0)
    a = det.features(train.normal[:2])
    b = det.features(train.normal[:2])
    _assert_same(a, b)
    assert (det.cache.misses, det.cache.hits) == (2, 0)
    assert not list(tmp_path.rglob("*.pt"))


def test_feature_cache_store_load(tmp_path):
    cache = FeatureCache(tmp_path / "c")
    assert cache.load("k") is None
    value = {"x": torch.arange(6.0).reshape(2, 3)}
    calls = []
    out = cache.features("k", lambda: calls.append(1) or value)
    assert calls == [1] and out is value and (cache.misses, cache.hits) == (1, 0)
    got = cache.features("k", lambda: calls.append(1) or value)
    assert calls == [1] and (cache.misses, cache.hits) == (1, 1)
    assert torch.equal(got["x"], value["x"])
    assert [p.name for p in (tmp_path / "c").iterdir()] == ["k.pt"], "no temp file left"


# -- CachedModule ---------------------------------------------------------------------


class CountingToy(nn.Module):
    """Deterministic per-row features; counts calls and rows computed."""

    def __init__(self) -> None:
        super().__init__()
        self.calls = 0
        self.rows = 0
        self.conv = nn.Conv2d(3, 2, 3, padding=1)
        torch.nn.init.constant_(self.conv.weight, 0.1)
        torch.nn.init.constant_(self.conv.bias, -0.2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.rows += len(x)
        return self.conv(x)


def _batch(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 3, 8, 8, generator=torch.Generator().manual_seed(seed))


def test_cached_module_memoises_per_row():
    toy = CountingToy()
    memo = CachedModule(toy)
    x = _batch(4, 0)
    with torch.no_grad():
        expected = CountingToy()(x)
    first = memo(x)
    assert (toy.calls, toy.rows, memo.misses, memo.hits) == (1, 4, 4, 0)
    torch.testing.assert_close(first, expected, rtol=0, atol=0)
    assert not first.requires_grad

    second = memo(x)
    assert (toy.calls, toy.rows, memo.misses, memo.hits) == (1, 4, 4, 4), "a seen batch computes nothing"
    assert torch.equal(first, second)

    # rows in another order: looked up row by row
    perm = memo(x[[3, 1, 0, 2]])
    assert toy.calls == 1 and memo.hits == 8
    assert torch.equal(perm, first[[3, 1, 0, 2]])

    # a mixed batch: only the new rows reach the inner module, in one call
    y = _batch(2, 1)
    mixed = memo(torch.cat([x[:2], y]))
    assert (toy.calls, toy.rows, memo.misses, memo.hits) == (2, 6, 6, 10)
    assert torch.equal(mixed[:2], first[:2])
    with torch.no_grad():
        torch.testing.assert_close(mixed[2:], CountingToy()(y), rtol=0, atol=0)


def test_cached_module_state_round_trip(tmp_path):
    memo = CachedModule(CountingToy())
    x = _batch(5, 2)
    out = memo(x)

    fresh_inner = CountingToy()
    fresh = CachedModule(fresh_inner)
    fresh.restore(memo.state())
    got = fresh(x)
    assert fresh_inner.calls == 0 and (fresh.misses, fresh.hits) == (0, 5)
    assert torch.equal(got, out)

    # through a FeatureCache file (what supersimplenet stores), loaded with weights_only
    cache = FeatureCache(tmp_path)
    cache.store("memo", memo.state())
    inner = CountingToy()
    loaded = CachedModule(inner)
    loaded.restore(cache.load("memo"))
    assert torch.equal(loaded(x), out) and inner.calls == 0 and loaded.hits == 5

    # an empty memo round-trips too
    empty = CachedModule(CountingToy())
    restored = CachedModule(CountingToy())
    restored.restore(empty.state())
    assert restored.memo == {}
