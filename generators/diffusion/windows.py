"""Anomaly-centred diffusion windows.

Why: industrial defects are small (a scratch covers well under 1 % of a pushpins image, 1–2 px
wide). Diffusing the whole image at the internal `resolution` first halves a 128 px canvas —
thin defects vanish — and leaves the defect < 1 % of the loss, so a short CPU budget learns the
normal background and paints near-normal content inside the mask. With ``window < 1`` the images
are loaded at ``resolution / window`` px and the model sees a `resolution`-px window of them:
around the anomaly for real anomalies (centre jittered), anywhere for normal images. Sampling
places the window where the real few-shot masks of the defect type lie, so the position
statistics stay those of the real defects. ``window = 1`` is the whole image (every box is (0, 0)).
"""

from __future__ import annotations

import numpy as np
import torch

from generators.diffusion.tensors import mask_bounds

#: window centre jitter, as a fraction of the window side, around the anomaly's box centre
JITTER = 0.25


def load_side(resolution: int, window: float) -> int:
    """Side (px) the images are loaded at so that a `resolution`-px window covers `window` of it."""
    if not 0 < window <= 1:
        raise ValueError(f"window must be in (0, 1] (fraction of the image side), got {window}")
    return max(resolution, int(round(resolution / window)))


def _aligned(v: float, hi: int, factor: int) -> int:
    return int(np.clip(int(round(v)) // factor * factor, 0, hi // factor * factor))


def random_box(load: int, side: int, rng: np.random.Generator, factor: int) -> tuple[int, int]:
    """Top-left (y, x) of a uniformly placed window, aligned to the codec's `factor`."""
    if load == side:
        return 0, 0
    return _aligned(rng.uniform(0, load - side + 1), load - side, factor), _aligned(
        rng.uniform(0, load - side + 1), load - side, factor)


def anomaly_box(mask: torch.Tensor, side: int, rng: np.random.Generator, factor: int) -> tuple[int, int]:
    """Top-left (y, x) of a window around the foreground of `mask` (1,L,L) (centre of its bounding
    box, jittered by ±JITTER·side); a uniform window when the mask is empty."""
    load = mask.shape[-1]
    if load == side:
        return 0, 0
    return box_around(mask_bounds(mask), load, side, rng, factor)


def box_around(bounds: tuple[int, int, int, int] | None, load: int, side: int, rng: np.random.Generator,
               factor: int) -> tuple[int, int]:
    """`anomaly_box` from a mask's precomputed bounds (`tensors.mask_bounds`): the training loop's
    form, which touches no device tensor."""
    if load == side:
        return 0, 0
    if bounds is None:
        return random_box(load, side, rng, factor)
    y0, y1, x0, x1 = bounds
    cy, cx = (y0 + y1) / 2, (x0 + x1) / 2
    jy, jx = rng.uniform(-JITTER, JITTER, 2) * side
    return (_aligned(cy + jy - side / 2, load - side, factor), _aligned(cx + jx - side / 2, load - side, factor))


def crop(t: torch.Tensor, boxes: list[tuple[int, int]], side: int) -> torch.Tensor:
    """Per-item crop of (N,C,H,W) at `boxes` (top-left, in `t`'s pixel units) → (N,C,side,side)."""
    return torch.stack([t[i, :, y:y + side, x:x + side] for i, (y, x) in enumerate(boxes)])
