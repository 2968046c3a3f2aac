"""The generator checks: the contract `harness.core.generator` states, on tiny procedural data.

Shapes and dtypes, binary non-empty masks (none at all where `makes_pairs` is False), the defect
type asked for, determinism for a seed (refitting included), the canvas kept exactly outside the
mask where `keeps_canvas_outside_mask` is claimed, canvases handed in left unchanged; and on every
accelerator (the fake one always, a real GPU where present): fit, sample, save and reload, and a
fit resumed from a shorter one's checkpoint (`resume_params`), with the CPU's arithmetic.
"""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from harness.core.checks import Check, check_declarations
from harness.core.generator import AnomalyPair, Generator
from harness.core.plugin import RunContext
from harness.core.toydata import toy_normals, toy_pairs

SIZE = 32  # pixels: the canvases' side
N = 4  # pairs asked per sample


class GeneratorBench:
    """One generator class with its params, the toy data, and the seed-0 CPU fit the checks share."""

    def __init__(self, cls: type[Generator], params: dict[str, Any], work_dir: Path):
        self.cls, self.params, self.work_dir = cls, params, work_dir
        self.normals, self.real = toy_normals(6, SIZE), toy_pairs(6, SIZE)
        self._fitted: Generator | None = None

    def fit(self, work: Path, *, device: Any = "cpu", params: dict[str, Any] | None = None,
            cache_dir: Path | None = None, seed: int = 0) -> Generator:
        ctx = RunContext("toy", SIZE, "cpu-quick", device, work, show_progress=False, cache_dir=cache_dir)
        gen = self.cls({**self.params, **(params or {})}, ctx)
        real = self.real if (self.cls.needs_real_anomalies or self.cls.conditions_on_defect_type) else []
        gen.fit(self.normals, real, seed=seed)
        return gen

    @property
    def fitted(self) -> Generator:
        if self._fitted is None:
            self._fitted = self.fit(self.work_dir / "fitted")
        return self._fitted

    def sample(self, gen: Generator, seed: int) -> list[AnomalyPair]:
        defect_type = "scratch" if gen.conditions_on_defect_type else None
        return gen.sample(N, normal_images=self.normals, defect_type=defect_type, seed=seed)


def same_pairs(a: list[AnomalyPair], b: list[AnomalyPair]) -> bool:
    return len(a) == len(b) and all(x.defect_type == y.defect_type and np.array_equal(x.image, y.image)
                                    and np.array_equal(x.mask, y.mask) for x, y in zip(a, b))


def _kept_outside(p: AnomalyPair, canvases: list[np.ndarray]) -> bool:
    return any(np.array_equal(p.image[~p.mask], c[~p.mask]) for c in canvases)


# ----------------------------------------------------------------------------- the checks


def declarations(bench: GeneratorBench) -> None:
    check_declarations(bench.cls, bench.params, [c.name for c in checks_for(bench.cls)])
    assert isinstance(bench.cls.needs_training, bool) and isinstance(bench.cls.makes_pairs, bool)


def pairs_are_images_with_binary_non_empty_masks(bench: GeneratorBench) -> None:
    gen = bench.fitted
    before = [c.copy() for c in bench.normals]
    pairs = bench.sample(gen, seed=1)
    expected = N if gen.makes_pairs else 0
    assert len(pairs) == expected, f"asked for {N} pairs, got {len(pairs)} (makes_pairs={gen.makes_pairs})"
    for p in pairs:
        assert isinstance(p, AnomalyPair)
        assert p.image.dtype == np.uint8 and p.image.shape == (SIZE, SIZE, 3), (p.image.dtype, p.image.shape)
        assert p.mask.dtype == np.bool_ and p.mask.shape == (SIZE, SIZE) and p.mask.any(), "empty or malformed mask"
        assert not p.mask.all(), "a mask covering the whole image marks no anomaly"
        if gen.conditions_on_defect_type:
            assert p.defect_type == "scratch", f"asked for defect type 'scratch', got {p.defect_type!r}"
        else:
            assert isinstance(p.defect_type, str) and p.defect_type
    assert all(np.array_equal(a, b) for a, b in zip(before, bench.normals)), "a canvas handed in was changed"


def same_seed_same_pairs_other_seed_other_pairs(bench: GeneratorBench) -> None:
    gen = bench.fitted
    first = bench.sample(gen, seed=7)
    assert same_pairs(first, bench.sample(gen, seed=7)), "the same seed sampled other pairs"
    if gen.makes_pairs:
        assert not same_pairs(first, bench.sample(gen, seed=8)), "another seed sampled the same pairs"


def refitting_with_the_same_seed_gives_the_same_pairs(bench: GeneratorBench) -> None:
    again = bench.fit(bench.work_dir / "refit")
    assert same_pairs(bench.sample(bench.fitted, seed=3), bench.sample(again, seed=3)), \
        "two fits with one seed sample other pairs"


def canvas_is_kept_outside_the_mask(bench: GeneratorBench) -> None:
    for p in bench.sample(bench.fitted, seed=5):
        assert _kept_outside(p, bench.normals), f"{bench.cls.name}: pixels outside the mask differ from every canvas"


# ----------------------------------------------------------------------------- devices


@contextlib.contextmanager
def on_device(device: str) -> Iterator[Any]:
    """The fake accelerator (`harness.core.fakegpu`) or a real torch device, as a `torch.device`."""
    import torch

    if device == "fakegpu":
        from harness.core.fakegpu import fake_gpu

        with fake_gpu() as dev:
            yield dev
    else:
        yield torch.device(device)


def accelerators(cls: type) -> list[str]:
    """Where the device checks run: the fake accelerator (CI has no GPU; it raises PyTorch's
    device-mismatch error wherever CUDA would) and a real GPU when this machine has one."""
    if "cuda" not in cls.supported_devices:
        return []
    import torch

    return [*(["cuda"] if torch.cuda.is_available() else []), "fakegpu"]


def _fit_sample_reload(bench: GeneratorBench, work: Path, device: Any, *, store: Path | None = None,
                       params: dict[str, Any] | None = None) -> tuple:
    """Fit (into `store`, resuming what it holds), sample, save, load into a fresh instance, sample."""
    gen = bench.fit(work, device=device, params=params, cache_dir=store)
    first = bench.sample(gen, seed=1)
    gen.save(work / "model")
    ctx = RunContext("toy", SIZE, "cpu-quick", device, work, show_progress=False, cache_dir=store)
    again = bench.cls({**bench.params, **(params or {})}, ctx)
    again.load(work / "model")
    return first, bench.sample(again, seed=1), getattr(gen, "resumed_from", None), _losses(gen)


def _losses(gen: Generator) -> list[float]:
    losses = getattr(gen, "train_losses", [])
    return [v for stage in losses.values() for v in stage] if isinstance(losses, dict) else list(losses)


def _same_arithmetic(cls: type[Generator], fake: tuple, cpu: tuple) -> None:
    """The fake GPU runs the CPU's kernels: untrained generators give the CPU's pairs exactly; a
    training loop's losses (`train_losses`) agree to float rounding (libraries pick other
    multi-tensor kernels for a device tensor's gradient-norm clipping than for a CPU one's)."""
    if cls.needs_training and (fake[3] or cpu[3]):
        np.testing.assert_allclose(fake[3], cpu[3], rtol=1e-4, atol=1e-6)
        assert len(fake[3]) == len(cpu[3]) > 0
    else:
        assert same_pairs(fake[0], cpu[0]), "the fake GPU sampled other pairs than the CPU"


def _device_contract(bench: GeneratorBench, device: str) -> None:
    import torch

    with on_device(device) as dev:
        result = _fit_sample_reload(bench, bench.work_dir / "dev", dev)
    pairs, reloaded = result[:2]
    assert same_pairs(pairs, reloaded), "a saved and reloaded model samples other pairs"
    if device == "fakegpu":
        _same_arithmetic(bench.cls, result, _fit_sample_reload(bench, bench.work_dir / "cpu", torch.device("cpu")))
    for p in pairs:
        assert p.image.dtype == np.uint8 and p.mask.dtype == np.bool_ and p.mask.any()
        if bench.cls.keeps_canvas_outside_mask:
            assert _kept_outside(p, bench.normals), "pixels outside the mask differ from every canvas"


def _resume_contract(bench: GeneratorBench, device: str) -> None:
    """The resumed state (weights, optimiser, EMA, random streams) continues on the device: the EMA
    restored from a host checkpoint once stayed on the CPU and broke the first resumed step."""
    import torch

    short, long = bench.cls.resume_params
    w = bench.work_dir
    with on_device(device) as dev:
        _fit_sample_reload(bench, w / "short", dev, store=w / "store", params=short)
        result = _fit_sample_reload(bench, w / "long", dev, store=w / "store", params=long)
    assert result[2] in (None, short.get("steps")), "the longer fit did not continue the shorter one's checkpoint"
    if device == "fakegpu":
        cpu = torch.device("cpu")
        _fit_sample_reload(bench, w / "cpu-short", cpu, store=w / "cpu", params=short)
        _same_arithmetic(bench.cls, result, _fit_sample_reload(bench, w / "cpu-long", cpu, store=w / "cpu",
                                                               params=long))


def _on(device: str, contract) -> Any:
    def run(bench: GeneratorBench) -> None:
        contract(bench, device)

    return run


# ----------------------------------------------------------------------------- selection


def checks_for(cls: type[Generator]) -> list[Check]:
    """The checks `cls` gets, picked by its declarations (scikit-learn picks by estimator tags)."""
    make = GeneratorBench
    out = [Check("declarations", declarations, make),
           Check("pairs_are_images_with_binary_non_empty_masks", pairs_are_images_with_binary_non_empty_masks, make),
           Check("same_seed_same_pairs_other_seed_other_pairs", same_seed_same_pairs_other_seed_other_pairs, make),
           Check("refitting_with_the_same_seed_gives_the_same_pairs",
                 refitting_with_the_same_seed_gives_the_same_pairs, make)]
    if cls.keeps_canvas_outside_mask:
        out.append(Check("canvas_is_kept_outside_the_mask", canvas_is_kept_outside_the_mask, make))
    for device in accelerators(cls):
        out.append(Check(f"fit_sample_save_load_on_{device}", _on(device, _device_contract), make))
    if cls.resume_params:
        for device in accelerators(cls):
            out.append(Check(f"fit_resumed_from_a_shorter_checkpoint_on_{device}", _on(device, _resume_contract),
                             make))
    return out
