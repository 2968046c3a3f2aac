"""Sampling speed (images/s, CPU) of every registered generator that needs no training.

    python benchmarks/generator_speed.py [--sizes 128 256] [--n 40] [--threads 1]

Canvases are made here (seeded: a light, grainy background with a dark textured
ellipse), so no dataset is needed. A generator class declaring ``needs_training = False``
is timed; others (learned generators) are skipped with the reason printed. Generators
that need real anomalies (``copy-paste``) are fitted on 4 synthetic defect pairs (a
bright scratch / a dark spot drawn on the canvases). `fit` time is not counted, except
that it is printed on its own.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.core import AnomalyPair  # noqa: E402
from harness.core import RunContext  # noqa: E402
from harness.core import GENERATORS  # noqa: E402


def canvases(n: int, size: int, seed: int = 0) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:size, :size]
    out = []
    for _ in range(n):
        img = np.clip(200 + rng.normal(0, 6, (size, size, 3)), 0, 255)
        cy, cx = size / 2 + rng.uniform(-0.05, 0.05, 2) * size
        ry, rx = size * rng.uniform(0.22, 0.3, 2)
        inside = ((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2 <= 1
        img[inside] = np.clip(np.array([90, 60, 40]) + rng.normal(0, 25, (size, size, 3)), 0, 255)[inside]
        out.append(img.astype(np.uint8))
    return out


def real_pairs(images: list[np.ndarray]) -> list[AnomalyPair]:
    size = images[0].shape[0]
    yy, xx = np.mgrid[:size, :size]
    pairs = []
    for k, img in enumerate(images[:4]):
        img = img.copy()
        if k % 2:
            mask = (yy - size * 0.55) ** 2 + (xx - size * 0.45) ** 2 <= (size * 0.06) ** 2
            img[mask] = (20, 20, 30)
            kind = "spot"
        else:
            mask = (np.abs((yy - xx) - size * 0.05) <= max(1, size // 100)) & (np.abs(yy - size / 2) < size * 0.15)
            img[mask] = (245, 245, 245)
            kind = "scratch"
        pairs.append(AnomalyPair(img, mask, kind))
    return pairs


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[128, 256])
    parser.add_argument("--n", type=int, default=40, help="images sampled per generator and size")
    parser.add_argument("--threads", type=int, default=None, help="torch/OpenCV threads (default: library default)")
    args = parser.parse_args()
    if args.threads:
        import cv2
        import torch

        torch.set_num_threads(args.threads)
        cv2.setNumThreads(args.threads)

    print(f"{'generator':<16}{'size':>6}{'fit s':>8}{'images/s':>10}")
    for entry in GENERATORS.entries():
        cls = entry.obj
        if entry.name == "none":
            print(f"{entry.name:<16}  skipped: makes no images")
            continue
        if getattr(cls, "needs_training", True):
            print(f"{entry.name:<16}  skipped: needs training (no needs_training = False declared)")
            continue
        for size in args.sizes:
            normals = canvases(16, size)
            gen = cls(None, RunContext(category="benchmark", image_size=size, show_progress=False))
            pairs = real_pairs(canvases(4, size, seed=1)) if cls.needs_real_anomalies else []
            t0 = time.perf_counter()
            gen.fit(normals, pairs, seed=0)
            fit_s = time.perf_counter() - t0
            gen.sample(2, normal_images=normals, seed=0)  # warm-up (lazy imports)
            t0 = time.perf_counter()
            out = gen.sample(args.n, normal_images=normals, seed=1)
            dt = time.perf_counter() - t0
            print(f"{entry.name:<16}{size:>6}{fit_s:>8.2f}{len(out) / dt:>10.1f}")


if __name__ == "__main__":
    main()
