"""Synthetic canvases for the generator tests: small, seeded, made here (no downloads)."""

from __future__ import annotations

import numpy as np
import pytest


def make_object_canvases(n: int = 6, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Light noisy background with a dark textured ellipse (an 'object') near the centre."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    images = []
    for _ in range(n):
        img = np.clip(200 + rng.normal(0, 6, (size, size, 3)), 0, 255)
        cy, cx = size / 2 + rng.uniform(-3, 3, 2)
        ry, rx = size * rng.uniform(0.22, 0.3, 2)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        texture = np.array([90, 60, 40]) + rng.normal(0, 25, (size, size, 3))
        img[inside] = np.clip(texture[inside], 0, 255)
        images.append(img.astype(np.uint8))
    return images


def make_texture_canvases(n: int = 4, size: int = 64, seed: int = 1) -> list[np.ndarray]:
    """Uniform random texture: no object to find."""
    rng = np.random.default_rng(seed)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


@pytest.fixture
def object_canvases() -> list[np.ndarray]:
    return make_object_canvases()


@pytest.fixture
def texture_canvases() -> list[np.ndarray]:
    return make_texture_canvases()


def _check_contract(pairs, n: int, shape: tuple[int, int], defect_type: str | None = None) -> None:
    """Every pair: HxWx3 uint8 image and non-empty HxW bool mask of the canvas size."""
    assert len(pairs) == n
    for pair in pairs:
        assert pair.image.dtype == np.uint8 and pair.image.shape == (*shape, 3)
        assert pair.mask.dtype == np.bool_ and pair.mask.shape == shape
        assert pair.mask.any(), "mask is empty"
        if defect_type is not None:
            assert pair.defect_type == defect_type


def _same(a, b) -> bool:
    return len(a) == len(b) and all(
        x.defect_type == y.defect_type and np.array_equal(x.image, y.image) and np.array_equal(x.mask, y.mask)
        for x, y in zip(a, b)
    )


def _source_canvas(pair, canvases) -> np.ndarray:
    """The canvas a pair was made on: the one that differs from it in the fewest pixels."""
    diffs = [int((pair.image != c).any(axis=2).sum()) for c in canvases]
    return canvases[int(np.argmin(diffs))]


@pytest.fixture
def check_contract():
    return _check_contract


@pytest.fixture
def same_pairs():
    return _same


@pytest.fixture
def source_canvas():
    return _source_canvas


def _load_tiny_sd_module():
    """tests/fixtures/tiny_sd.py by path (tests/ is not a package; --import-mode=importlib)."""
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "fixtures" / "tiny_sd.py"
    spec = importlib.util.spec_from_file_location("tiny_sd_fixture", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="session")
def tiny_sd(tmp_path_factory):
    """A tiny, random Stable Diffusion folder (diffusers format): a code-path fixture, not a model."""
    return str(_load_tiny_sd_module().write_tiny_sd(tmp_path_factory.mktemp("tiny-sd")))
