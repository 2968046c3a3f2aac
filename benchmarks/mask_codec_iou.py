"""Reconstruction IoU of the built-in masks through the latent mask codecs of a pretrained SD backbone.

Why: on SD's 8× latent grid the mask strand needs a codec; `Codec(mask_patch=True)` folds it
space-to-depth (lossless), the older latent path area-pools it to one channel. This prints both
IoUs per built-in category (docs/dhdiff.md). The VAE route (mask as 3 channels through SD's VAE)
needs the real VAE weights, which are not available offline, so it is not measured here.

    python benchmarks/mask_codec_iou.py [--size 256] [--factor 8]
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from harness.data.builtin import synthesize


def iou(rec: torch.Tensor, ref: torch.Tensor) -> float:
    return float(((rec & ref).sum((1, 2, 3)) / (rec | ref).sum((1, 2, 3))).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, default=256)
    ap.add_argument("--factor", type=int, default=8, help="latent downsampling (SD's VAE: 8)")
    args = ap.parse_args()
    f = args.factor
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        synthesize(root, image_size=args.size, seed=0)
        for cat in sorted(p.name for p in root.iterdir() if p.is_dir()):
            masks = [np.asarray(Image.open(m).convert("L")) > 0 for m in sorted((root / cat / "ground_truth").rglob("*.png"))]
            t = torch.from_numpy(np.stack([m for m in masks if m.any()])).float()[:, None]
            ref = t > 0
            pooled = F.interpolate(F.avg_pool2d(t * 2 - 1, f), scale_factor=f, mode="bilinear", align_corners=False) > 0
            folded = F.pixel_shuffle(F.pixel_unshuffle(t * 2 - 1, f), f) > 0
            print(f"{cat:<14} {len(t):>4} masks  area-pool IoU {iou(pooled, ref):.3f}  "
                  f"space-to-depth IoU {iou(folded, ref):.3f}")


if __name__ == "__main__":
    main()
