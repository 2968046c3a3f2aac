"""Every registered generator against one set of checks: the contract `harness.core.generator` states.

Shapes and dtypes, binary non-empty masks (fewer pairs only for `none`), the defect type asked
for, determinism for a seed (refitting included), the canvas kept exactly outside the mask
where the plug-in claims `keeps_canvas_outside_mask`, and canvases handed in left unchanged.
That no test image reaches a generator is the grid's business: `test_no_leakage.py`.
"""

from __future__ import annotations

import contextlib
from pathlib import Path

import numpy as np
import pytest
import torch

from harness.core.toydata import toy_normals, toy_pairs
from harness.core import AnomalyPair, RunContext
from harness.core.fakegpu import fake_gpu
from harness.core.registry import GENERATORS

SIZE = 32
#: CPU-cheap params per generator; a new plug-in adds its line here (the first test says so)
DIFFUSION = dict(resolution=16, patch=2, block_channels=[16, 32], attention_levels=1, attention_heads=2,
                 cross_attention_dim=16, steps=8, batch_size=4, sample_steps=4, sample_batch=8, checkpoint_every=0)
TINY: dict[str, dict] = {
    "none": {}, "cutpaste": {}, "cutpaste-scar": {}, "copy-paste": {}, "draem": {}, "nsa": {},
    "twostage": DIFFUSION,
    **{name: {**DIFFUSION, "window": 1.0, "second_pass": False} for name in ("dhdiff", "dhdiff-no-dda", "dhdiff-no-ssm")},
}
#: generators whose whole point is to make no pair
EMPTY_BY_DESIGN = {"none"}
N = 4


def test_every_registered_generator_has_contract_params():
    assert set(GENERATORS.names()) <= set(TINY), f"add CPU-cheap params for {set(GENERATORS.names()) - set(TINY)}"


@pytest.fixture(scope="module")
def data():
    return toy_normals(6, SIZE), toy_pairs(6, SIZE)


def _fit(name: str, data, work_dir, seed: int = 0):
    normals, real = data
    cls = GENERATORS.get(name)
    gen = cls(TINY[name], RunContext("toy", SIZE, "cpu-quick", "cpu", work_dir, show_progress=False))
    gen.fit(normals, real if (cls.needs_real_anomalies or cls.conditions_on_defect_type) else [], seed=seed)
    return gen


def _sample(gen, normals, seed: int) -> list[AnomalyPair]:
    defect_type = "scratch" if gen.conditions_on_defect_type else None
    return gen.sample(N, normal_images=normals, defect_type=defect_type, seed=seed)


def _same(a: list[AnomalyPair], b: list[AnomalyPair]) -> bool:
    return len(a) == len(b) and all(x.defect_type == y.defect_type and np.array_equal(x.image, y.image)
                                    and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


@pytest.fixture(scope="module", params=sorted(TINY))
def fitted(request, data, tmp_path_factory):
    if request.param not in GENERATORS:
        pytest.skip(f"{request.param} is not registered")
    return _fit(request.param, data, tmp_path_factory.mktemp(request.param))


def test_pairs_are_images_with_binary_non_empty_masks(fitted, data):
    normals, _ = data
    before = [c.copy() for c in normals]
    pairs = _sample(fitted, normals, seed=1)
    assert len(pairs) == (0 if fitted.name in EMPTY_BY_DESIGN else N)
    for p in pairs:
        assert isinstance(p, AnomalyPair)
        assert p.image.dtype == np.uint8 and p.image.shape == (SIZE, SIZE, 3)
        assert p.mask.dtype == np.bool_ and p.mask.shape == (SIZE, SIZE) and p.mask.any()
        assert not p.mask.all(), "a mask covering the whole image marks no anomaly"
        if fitted.conditions_on_defect_type:
            assert p.defect_type == "scratch"
        else:
            assert isinstance(p.defect_type, str) and p.defect_type
    assert all(np.array_equal(a, b) for a, b in zip(before, normals)), "a canvas handed in was changed"


def test_same_seed_same_pairs_other_seed_other_pairs(fitted, data):
    normals, _ = data
    first = _sample(fitted, normals, seed=7)
    assert _same(first, _sample(fitted, normals, seed=7))
    if fitted.name not in EMPTY_BY_DESIGN:
        assert not _same(first, _sample(fitted, normals, seed=8))


def test_refitting_with_the_same_seed_gives_the_same_pairs(fitted, data, tmp_path):
    normals, _ = data
    again = _fit(fitted.name, data, tmp_path)
    assert _same(_sample(fitted, normals, seed=3), _sample(again, normals, seed=3))


def test_canvas_is_kept_outside_the_mask_where_claimed(fitted, data):
    if not fitted.keeps_canvas_outside_mask:
        pytest.skip(f"{fitted.name} does not claim keeps_canvas_outside_mask")
    normals, _ = data
    for p in _sample(fitted, normals, seed=5):
        assert any(np.array_equal(p.image[~p.mask], c[~p.mask]) for c in normals), \
            f"{fitted.name}: pixels outside the mask differ from every canvas"


# ----------------------------------------------------------------------------- devices
#: every device this machine has, and the fake GPU (harness.core.fakegpu): CI has no GPU, and the
#: fake one raises PyTorch's device-mismatch error wherever CUDA would
DEVICES = [*(["cuda"] if torch.cuda.is_available() else []), "fakegpu"]


@contextlib.contextmanager
def _on(device: str):
    if device == "fakegpu":
        with fake_gpu() as dev:
            yield dev
    else:
        yield torch.device(device)


def _fit_sample_reload(name: str, data, work: Path, device, *, store: Path | None = None, steps: int | None = None):
    """Fit (into `store`, resuming what it holds), sample, save, load into a fresh instance, sample."""
    normals, real = data
    cls = GENERATORS.get(name)
    params = dict(TINY[name])
    if store is not None:
        params.update(checkpoint_every=2, steps=steps)
    ctx = RunContext("toy", SIZE, "cpu-quick", device, work, show_progress=False, cache_dir=store)
    gen = cls(params, ctx)
    gen.fit(normals, real if (cls.needs_real_anomalies or cls.conditions_on_defect_type) else [], seed=0)
    first = _sample(gen, normals, seed=1)
    gen.save(work / "model")
    again = cls(params, ctx)
    again.load(work / "model")
    return first, _sample(again, normals, seed=1), getattr(gen, "resumed_from", None), _losses(gen)


def _losses(gen) -> list[float]:
    losses = getattr(gen, "train_losses", [])
    return [v for stage in losses.values() for v in stage] if isinstance(losses, dict) else list(losses)


def _same_arithmetic(name: str, fake: tuple, cpu: tuple) -> None:
    """The fake GPU runs the CPU's kernels: untrained generators give the CPU's pairs exactly; a
    training loop's losses agree to float rounding (libraries pick other multi-tensor kernels for a
    device tensor's gradient-norm clipping than for a CPU one's, so the last bits may differ)."""
    if "steps" in TINY[name]:
        np.testing.assert_allclose(fake[3], cpu[3], rtol=1e-4, atol=1e-6)
        assert len(fake[3]) == len(cpu[3]) > 0
    else:
        assert _same(fake[0], cpu[0])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", sorted(TINY))
def test_fit_sample_save_load_run_on_every_device(name, device, data, tmp_path):
    """Fit, sample, save and reload on the device; on the fake GPU with the CPU's arithmetic
    (`_same_arithmetic`); everywhere with the contract's pairs."""
    if name not in GENERATORS:
        pytest.skip(f"{name} is not registered")
    with _on(device) as dev:
        result = _fit_sample_reload(name, data, tmp_path / "dev", dev)
    pairs, reloaded = result[:2]
    assert _same(pairs, reloaded), "a saved and reloaded model samples other pairs"
    if device == "fakegpu":
        _same_arithmetic(name, result, _fit_sample_reload(name, data, tmp_path / "cpu", torch.device("cpu")))
    normals, _ = data
    for p in pairs:
        assert p.image.dtype == np.uint8 and p.mask.dtype == np.bool_ and p.mask.any()
        if GENERATORS.get(name).keeps_canvas_outside_mask:
            assert any(np.array_equal(p.image[~p.mask], c[~p.mask]) for c in normals)


TRAINED = sorted(n for n in TINY if "steps" in TINY[n])


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("name", TRAINED)
def test_a_fit_resumed_from_a_shorter_checkpoint_runs_on_every_device(name, device, data, tmp_path):
    """The resumed state (weights, optimiser, EMA, random streams) continues on the device: the EMA
    restored from a host checkpoint once stayed on the CPU and broke the first resumed step."""
    if name not in GENERATORS:
        pytest.skip(f"{name} is not registered")
    with _on(device) as dev:
        _fit_sample_reload(name, data, tmp_path / "short", dev, store=tmp_path / "store", steps=4)
        result = _fit_sample_reload(name, data, tmp_path / "long", dev, store=tmp_path / "store", steps=6)
    assert result[2] in (None, 4), "the longer fit did not continue the shorter one's checkpoint"
    if device == "fakegpu":
        _fit_sample_reload(name, data, tmp_path / "cpu-short", torch.device("cpu"), store=tmp_path / "cpu", steps=4)
        _same_arithmetic(name, result, _fit_sample_reload(name, data, tmp_path / "cpu-long", torch.device("cpu"),
                                                          store=tmp_path / "cpu", steps=6))
