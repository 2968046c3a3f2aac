"""A tiny on-disk inspection set for detector tests: textured normals, square defects."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from detectors.base import TrainSet
from harness.data.io import save_png


def _texture(rng: np.random.Generator, size: int) -> np.ndarray:
    base = rng.normal(120, 12, (size, size, 1)) + np.linspace(0, 30, size)[None, :, None]
    return np.clip(np.repeat(base, 3, axis=2), 0, 255).astype(np.uint8)


def _defect(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = img.shape[0]
    s = int(rng.integers(size // 8, size // 4))
    y, x = rng.integers(0, size - s, 2)
    out = img.copy()
    out[y:y + s, x:x + s] = (235, 40, 40)
    mask = np.zeros(img.shape[:2], dtype=bool)
    mask[y:y + s, x:x + s] = True
    return out, mask


def make_tiny_set(root: Path, *, n_train: int = 12, n_gen: int = 8, n_test_good: int = 6, n_test_bad: int = 6,
                  size: int = 64, seed: int = 0) -> tuple[TrainSet, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    normal = []
    for i in range(n_train):
        p = root / "train" / f"n{i:03d}.png"
        save_png(_texture(rng, size + 16), p)  # other size than the run's: detectors resize
        normal.append(p)
    gen = []
    for i in range(n_gen):
        img, mask = _defect(_texture(rng, size), rng)
        ip, mp = root / "gen" / f"g{i:03d}.png", root / "gen" / f"g{i:03d}_mask.png"
        save_png(img, ip)
        save_png(mask, mp)
        gen.append((ip, mp))
    rows = []
    for i in range(n_test_good):
        p = root / "test" / f"good{i:03d}.png"
        save_png(_texture(rng, size), p)
        rows.append(dict(image_path=str(p), mask_paths=[], mask_saturation=[], label=0, defect_type="good"))
    for i in range(n_test_bad):
        img, mask = _defect(_texture(rng, size), rng)
        p, mp = root / "test" / f"bad{i:03d}.png", root / "test" / f"bad{i:03d}_mask.png"
        save_png(img, p)
        save_png(mask, mp)
        rows.append(dict(image_path=str(p), mask_paths=[str(mp)], mask_saturation=[(1.0, True)], label=1,
                         defect_type="square"))
    table = pd.DataFrame(rows)
    table["anomaly_kind"] = ""
    table["split"] = "test"
    table["category"] = "tiny"
    return TrainSet(normal=normal, anomalous=gen, anomalous_defect_types=["square"] * len(gen)), table


@pytest.fixture
def tiny_set(tmp_path: Path) -> tuple[TrainSet, pd.DataFrame]:
    return make_tiny_set(tmp_path / "data")
