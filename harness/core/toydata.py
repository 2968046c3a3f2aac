"""Tiny procedural data for the contract checks (`harness.core.checks`), plug-ins' own tests and
speed benchmarks: no files to download, the same arrays for a seed.

- `toy_normals` / `toy_pairs`: textured normals, dark-blob and scratch anomalies with exact masks,
  in memory (what a generator is fitted on);
- `make_tiny_set`: an on-disk inspection set (textured normals, square defects) as a `TrainSet`
  and a test sample table (what a detector is fitted on and predicts).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from harness.core.detector import TrainSet
from harness.core.generator import AnomalyPair
from harness.core.io import save_png


def toy_normals(n: int, size: int = 64, seed: int = 0) -> list[np.ndarray]:
    """Normal images: a smooth colour gradient with a regular stripe texture and mild noise."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:size, 0:size] / size
    out = []
    for _ in range(n):
        phase = rng.uniform(0, 2 * np.pi)
        stripes = 0.5 + 0.5 * np.sin(2 * np.pi * 6 * xx + phase)
        base = np.stack([0.55 + 0.2 * yy, 0.45 + 0.15 * stripes, 0.35 + 0.1 * xx], -1)
        img = base + rng.normal(0, 0.02, base.shape)
        out.append((np.clip(img, 0, 1) * 255).astype(np.uint8))
    return out


def toy_pairs(n: int, size: int = 64, seed: int = 1, defect_types: tuple[str, ...] = ("blob", "scratch")) -> list[AnomalyPair]:
    """Anomalies on toy normals: a dark ``blob`` (disc) or a bright ``scratch`` (thick line)."""
    rng = np.random.default_rng(seed)
    normals = toy_normals(n, size, seed + 1000)
    yy, xx = np.mgrid[0:size, 0:size]
    pairs = []
    for i in range(n):
        kind = defect_types[i % len(defect_types)]
        img = normals[i].copy()
        cy, cx = rng.uniform(0.3, 0.7, 2) * size
        if kind == "scratch":
            ang = rng.uniform(0, np.pi)
            d = np.abs((yy - cy) * np.cos(ang) - (xx - cx) * np.sin(ang))
            along = np.abs((yy - cy) * np.sin(ang) + (xx - cx) * np.cos(ang))
            mask = (d < size * 0.04) & (along < size * 0.3)
            img[mask] = (240, 240, 230)
        else:
            r = rng.uniform(0.1, 0.18) * size
            mask = (yy - cy) ** 2 + (xx - cx) ** 2 < r * r
            img[mask] = (30, 25, 20)
        pairs.append(AnomalyPair(image=img, mask=mask, defect_type=kind))
    return pairs


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
    """PNG files under `root`: normals (at another size than the run's: detectors resize), generated
    pairs, and a test table of good and square-defect images with their masks."""
    rng = np.random.default_rng(seed)
    normal = []
    for i in range(n_train):
        p = root / "train" / f"n{i:03d}.png"
        save_png(_texture(rng, size + 16), p)
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
