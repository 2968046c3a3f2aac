"""Generators with object placement put their masks on the object (`harness.data.foreground`),
measured with the on-object generation metric: the pasting baselines and DH-Diff."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from harness.core import AnomalyPair, GENERATORS, RunContext
from harness.data import builtin as B
from harness.core.foreground import fit_object, on_object_fraction
from harness.metrics.generation import on_object_metrics
from tests.generators.conftest import make_object_canvases


@pytest.fixture(scope="module")
def pushpins():
    """Built-in pushpins at 64 px: normals and a few real defects (all on the tray)."""
    normals = [B.render_sample("pushpins", "train", i, image_size=64)[0] for i in range(8)]
    pairs = []
    for i, defect in enumerate(["scratch", "contamination", "broken_pushpin"] * 2):
        image, masks = B.render_sample("pushpins", "structural_anomalies", i, image_size=64, defect=defect)
        pairs.append(AnomalyPair(image, np.logical_or.reduce([m for _, m in masks]), defect))
    return normals, pairs


def _on_object(pairs, normals) -> float:
    """Share of mask area on the normal images' object (the canvases' own split)."""
    est = fit_object(normals)
    return on_object_fraction([p.mask for p in pairs], [est.region(_canvas_of(p, normals)) for p in pairs])


def _canvas_of(pair, canvases):
    return min(canvases, key=lambda c: int((pair.image != c).any(axis=2).sum()))


@pytest.mark.parametrize("name", ["cutpaste", "cutpaste-scar", "draem", "nsa", "copy-paste"])
def test_pasting_generators_with_object_placement_stay_on_the_object(name, pushpins, tmp_path):
    normals, real = pushpins
    ctx = RunContext(category="pushpins", image_size=64, work_dir=tmp_path, show_progress=False)
    gen = GENERATORS.get(name)({"placement": "object"}, ctx)
    gen.fit(normals, real, seed=0)
    pairs = gen.sample(12, normal_images=normals, seed=1)
    assert _on_object(pairs, normals) >= 0.95
    metric = on_object_metrics(pairs, real)
    assert metric["mask_on_object"].value >= 0.9  # the metric sees it too, from the pairs alone
    assert metric["mask_on_object_real"].value >= 0.95  # pushpins' real defects are on the tray


TINY = dict(resolution=16, patch=2, block_channels=[16, 32], attention_levels=1, attention_heads=2,
            cross_attention_dim=16, steps=6, batch_size=4, sample_steps=3, sample_batch=8, checkpoint_every=0,
            window=0.5, second_pass=True)


def _object_data(size: int = 32):
    """A dark ellipse (the object) on a light background; real defects: bright spots on the object."""
    normals = make_object_canvases(8, size, seed=0)
    pairs = []
    for i, img in enumerate(make_object_canvases(4, size, seed=5)):
        m = np.zeros((size, size), bool)
        c = size // 2 + (i % 2) * 2
        m[c - 2:c + 2, c - 3:c + 3] = True
        img = img.copy()
        img[m] = 250
        pairs.append(AnomalyPair(img, m, "spot"))
    return normals, pairs


@pytest.fixture(scope="module")
def dhdiff_pair(tmp_path_factory):
    """The same tiny DH-Diff fit twice (anywhere / object): an untrained model draws masks anywhere."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    normals, real = _object_data()
    fitted = {}
    for placement in ("anywhere", "object"):
        ctx = RunContext(category="toy", image_size=32, work_dir=tmp_path_factory.mktemp(placement), show_progress=False)
        gen = GENERATORS.get("dhdiff")({**TINY, "placement": placement}, ctx)
        gen.fit(normals, real, seed=0)
        fitted[placement] = gen
    yield fitted, normals, real
    torch.set_num_threads(before)


def test_dhdiff_object_placement_keeps_masks_on_the_object(dhdiff_pair, tmp_path):
    fitted, normals, real = dhdiff_pair
    assert fitted["object"].on_object_types == ["spot"]
    free = fitted["anywhere"].sample(16, normal_images=normals, seed=2)
    kept = fitted["object"].sample(16, normal_images=normals, seed=2)
    assert all(p.mask.any() for p in kept)
    est = fit_object(normals)
    for p in kept:  # every mask pixel on its canvas's object (the canvas is exact outside the mask)
        canvas = _canvas_of(p, normals)
        assert np.array_equal(p.image[~p.mask], canvas[~p.mask])
        assert not (p.mask & ~est.region(canvas)).any()
    assert _on_object(kept, normals) == 1.0
    assert _on_object(free, normals) < 0.95  # the constraint is what puts them there
    assert on_object_metrics(kept, real)["mask_on_object"].value >= 0.95
    # the training run is the same (placement acts at sampling): identical weights
    a, b = fitted["anywhere"].model.state_dict(), fitted["object"].model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    # save/load keeps the object
    fitted["object"].save(tmp_path / "m")
    again = GENERATORS.get("dhdiff")({**TINY, "placement": "object"},
                                     RunContext(category="toy", image_size=32, work_dir=tmp_path, show_progress=False))
    again.load(tmp_path / "m")
    assert again.on_object_types == ["spot"]
    same, orig = again.sample(4, normal_images=normals, seed=3), fitted["object"].sample(4, normal_images=normals, seed=3)
    assert all(np.array_equal(x.mask, y.mask) and np.array_equal(x.image, y.image) for x, y in zip(same, orig))


def test_dhdiff_object_placement_needs_an_object(tmp_path):
    from tests.generators.conftest import make_texture_canvases

    normals = make_texture_canvases(4, 32)
    m = np.zeros((32, 32), bool)
    m[10:14, 10:14] = True
    gen = GENERATORS.get("dhdiff")({**TINY, "placement": "object"},
                                   RunContext(category="toy", image_size=32, work_dir=tmp_path, show_progress=False))
    with pytest.raises(ValueError, match="placement 'object'"):
        gen.fit(normals, [AnomalyPair(normals[0], m, "spot")], seed=0)
