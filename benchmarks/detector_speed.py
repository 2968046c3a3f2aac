"""Train and inference time of every registered detector at its cpu-quick size (CPU).

    python benchmarks/detector_speed.py [--detectors supervised-seg patchcore] [--n-train 150]
        [--n-gen 75] [--n-test 150] [--size 128] [--threads 1] [--profile cpu-quick]
    python benchmarks/detector_speed.py --cache [--detectors frozen-seg supersimplenet] [--threads 1]

`--cache`: for the detectors with a frozen-feature cache, fit seconds without the cache
(backbone every step), with a cold cache (features computed once, written), with a warm one
(features read from disk), and the ratios no-cache / cold and no-cache / warm.

A synthetic set is made here (seeded textured canvases; square and scratch defects with
masks, written as PNGs to a temp folder), so no dataset is needed. Prints per detector:
fit seconds, predict seconds, test images/s, and image/pixel AUROC (a sanity check that the
detector learned something, not a benchmark result).
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from harness.core import TrainSet  # noqa: E402
from harness.core.io import save_png  # noqa: E402
from harness.metrics.detection import compute_detection_metrics  # noqa: E402
from harness.core import RunContext  # noqa: E402
from harness.core import DETECTORS  # noqa: E402


def _canvas(rng: np.random.Generator, size: int) -> np.ndarray:
    yy, xx = np.mgrid[:size, :size]
    base = 140 + 25 * np.sin(xx / size * 6 * np.pi + rng.uniform(0, 6)) + rng.normal(0, 8, (size, size))
    return np.clip(np.repeat(base[..., None], 3, axis=2) * np.array([1.0, 0.95, 0.85]), 0, 255).astype(np.uint8)


def _defect(img: np.ndarray, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    size = img.shape[0]
    out, mask = img.copy(), np.zeros(img.shape[:2], bool)
    if rng.random() < 0.5:
        s = int(rng.integers(size // 12, size // 5))
        y, x = rng.integers(0, size - s, 2)
        mask[y:y + s, x:x + s] = True
        out[mask] = rng.integers(0, 255, 3)
    else:
        yy, xx = np.mgrid[:size, :size]
        c = rng.uniform(0.2, 0.8) * size
        mask = (np.abs(yy - xx - (c - size / 2)) <= 1) & (np.abs(yy - size / 2) < size * 0.25)
        out[mask] = (250, 250, 250)
    return out, mask


def synthetic_set(root: Path, n_train: int, n_gen: int, n_test: int, size: int, seed: int = 0):
    rng = np.random.default_rng(seed)
    normal = []
    for i in range(n_train):
        normal.append(root / f"train/{i:04d}.png")
        save_png(_canvas(rng, size), normal[-1])
    gen = []
    for i in range(n_gen):
        img, mask = _defect(_canvas(rng, size), rng)
        pair = (root / f"gen/{i:04d}.png", root / f"gen/{i:04d}_mask.png")
        save_png(img, pair[0])
        save_png(mask, pair[1])
        gen.append(pair)
    rows = []
    for i in range(n_test):
        p = root / f"test/{i:04d}.png"
        if i % 2:
            img, mask = _defect(_canvas(rng, size), rng)
            save_png(mask, root / f"test/{i:04d}_mask.png")
            masks, label = [str(root / f"test/{i:04d}_mask.png")], 1
        else:
            img, masks, label = _canvas(rng, size), [], 0
        save_png(img, p)
        rows.append(dict(image_path=str(p), mask_paths=masks, mask_saturation=[(1.0, True)] * len(masks),
                         label=label, defect_type="x" if label else "good", anomaly_kind="", split="test",
                         category="synthetic"))
    return TrainSet(normal=normal, anomalous=gen, anomalous_defect_types=["x"] * n_gen), pd.DataFrame(rows)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--detectors", nargs="*", default=None)
    ap.add_argument("--n-train", type=int, default=150)
    ap.add_argument("--n-gen", type=int, default=75)
    ap.add_argument("--n-test", type=int, default=150)
    ap.add_argument("--size", type=int, default=128)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--profile", default="cpu-quick")
    ap.add_argument("--cache", action="store_true", help="compare fit time without / with the feature cache")
    args = ap.parse_args()
    if args.cache:
        cache_comparison(args)
        return

    import torch

    torch.set_num_threads(args.threads)
    names = args.detectors or DETECTORS.names()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train, test = synthetic_set(root / "data", args.n_train, args.n_gen, args.n_test, args.size)
        print(f"{len(train.normal)} normal + {len(train.anomalous)} generated train, {len(test)} test, "
              f"{args.size} px, {args.threads} threads, profile {args.profile}")
        print(f"{'detector':16s} {'fit s':>8s} {'predict s':>10s} {'img/s':>7s} {'img AUROC':>10s} {'px AUROC':>9s}")
        for name in names:
            ctx = RunContext(category="synthetic", image_size=args.size, profile=args.profile,
                             work_dir=root / "work" / name, show_progress=False)
            det = DETECTORS.get(name)(None, ctx, seed=0)
            t0 = time.perf_counter()
            det.fit(train)
            t1 = time.perf_counter()
            preds = det.predict(test)
            t2 = time.perf_counter()
            m = compute_detection_metrics(test, preds, image_size=args.size)
            print(f"{name:16s} {t1 - t0:8.1f} {t2 - t1:10.1f} {len(test) / (t2 - t1):7.1f} "
                  f"{m['image_auroc']:10.3f} {m['pixel_auroc']:9.3f}", flush=True)


def cache_comparison(args) -> None:
    """Fit seconds of cached-feature detectors: no cache, cold cache, warm cache (same steps)."""
    import torch

    torch.set_num_threads(args.threads)
    names = args.detectors or ["frozen-seg", "supersimplenet"]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        train, test = synthetic_set(root / "data", args.n_train, args.n_gen, args.n_test, args.size)
        print(f"{len(train.normal)} normal + {len(train.anomalous)} generated train, {args.size} px, "
              f"{args.threads} threads, profile {args.profile}; default steps, no validation fold")
        print(f"{'detector':16s} {'no cache s':>10s} {'cold s':>8s} {'warm s':>8s} {'no/cold':>8s} {'no/warm':>8s}")
        for name in names:
            times = []
            for mode, cache_dir in (("off", None), ("cold", root / "cache" / name), ("warm", root / "cache" / name)):
                ctx = RunContext(category="synthetic", image_size=args.size, profile=args.profile,
                                 work_dir=root / "work" / f"{name}-{mode}", show_progress=False, cache_dir=cache_dir)
                det = DETECTORS.get(name)({"cache_features": mode != "off"}, ctx, seed=0)
                t0 = time.perf_counter()
                det.fit(train)
                times.append(time.perf_counter() - t0)
            off, cold, warm = times
            print(f"{name:16s} {off:10.1f} {cold:8.1f} {warm:8.1f} {off / cold:8.2f} {off / warm:8.2f}", flush=True)


if __name__ == "__main__":
    main()
