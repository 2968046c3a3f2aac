"""Two-stage baseline: exact background, binary non-empty masks, determinism, save/load, guidance."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core.toydata import toy_normals, toy_pairs
from harness.core import GENERATORS, RunContext

TINY = dict(resolution=16, patch=2, block_channels=[16, 32], attention_levels=1, attention_heads=2,
            cross_attention_dim=16, steps=8, batch_size=4, sample_steps=4, sample_batch=8, checkpoint_every=0)
SIZE = 32


def _ctx(tmp_path) -> RunContext:
    return RunContext(category="toy", image_size=SIZE, work_dir=tmp_path, show_progress=False)


@pytest.fixture(scope="module")
def data():
    return toy_normals(6, SIZE), toy_pairs(4, SIZE)


@pytest.fixture(scope="module")
def fitted(data, tmp_path_factory):
    gen = GENERATORS.get("twostage")(TINY, _ctx(tmp_path_factory.mktemp("ts")))
    gen.fit(*data, seed=0)
    return gen


def _same(a, b) -> bool:
    return all(np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


def test_pairs_keep_the_canvas_outside_a_binary_non_empty_mask(fitted, data):
    normals, _ = data
    pairs = fitted.sample(5, normal_images=normals, seed=1)
    assert len(pairs) == 5
    for p in pairs:
        assert p.mask.dtype == np.bool_ and p.mask.any() and p.image.shape == (SIZE, SIZE, 3)
        assert any(np.array_equal(p.image[~p.mask], c[~p.mask]) for c in normals)
        assert p.defect_type in fitted.defect_types


def test_deterministic_and_seed_dependent(fitted, data):
    normals, _ = data
    a, b = (fitted.sample(3, normal_images=normals, seed=4) for _ in range(2))
    assert _same(a, b)
    assert not _same(a, fitted.sample(3, normal_images=normals, seed=5))


def test_save_load_identical_samples(fitted, data, tmp_path):
    normals, _ = data
    fitted.save(tmp_path / "ts.pt")
    fresh = GENERATORS.get("twostage")(TINY, _ctx(tmp_path))
    fresh.load(tmp_path / "ts.pt")
    assert _same(fitted.sample(3, normal_images=normals, seed=2), fresh.sample(3, normal_images=normals, seed=2))


def test_given_mask_skips_stage_one(fitted, data):
    normals, _ = data
    given = np.zeros((SIZE, SIZE), bool)
    given[3:9, 20:30] = True
    for p in fitted.sample(2, normal_images=normals, seed=0, masks=[given]):
        assert np.array_equal(p.mask, given)
        assert any(np.array_equal(p.image[~given], c[~given]) for c in normals)


def test_empty_stage_one_masks_fall_back(fitted, data, monkeypatch):
    normals, _ = data
    monkeypatch.setattr(fitted, "_sample_masks", lambda prompts, gen: -torch.ones(len(prompts), 1, 16, 16))
    for p in fitted.sample(3, normal_images=normals, seed=0):
        assert p.mask.any()


def test_same_budget_and_backbone_as_dhdiff():
    ts, dh = GENERATORS.get("twostage"), GENERATORS.get("dhdiff")
    for profile in ("cpu-quick", "gpu-full"):
        a, b = ts.resolve_params({}, profile).model_dump(), dh.resolve_params({}, profile).model_dump()
        # guidance is a sampling choice, not budget or backbone: DH-Diff's cpu-quick 3.0 was chosen
        # on its validation folds (docs/dhdiff.md), twostage's was not tuned
        shared = [k for k in a if k != "guidance_scale"]
        assert {k: a[k] for k in shared} == {k: b[k] for k in shared}
