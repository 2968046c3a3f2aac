"""A tiny procedural image set (textured normals, dark-blob and scratch anomalies with exact
masks) for the diffusion generators' tests and speed benchmark; no files, no downloads."""

from __future__ import annotations

import numpy as np

from generators.base import AnomalyPair


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
