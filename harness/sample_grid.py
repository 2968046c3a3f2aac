"""A picture of a generator's samples for eyeballing: one row per pair, image | mask | overlay.

The lead logs it to MLflow per generator so a reader can check that "cutpaste" looks like
CutPaste before trusting its numbers.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
from PIL import Image, ImageDraw
from scipy import ndimage

from harness.core.generator import AnomalyPair

_GAP = 2  # px between panels and rows
_TINT = np.array([255, 0, 0], dtype=np.float32)


def _overlay(image: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Red tint inside the mask and a yellow outline around it."""
    out = image.astype(np.float32)
    out[mask] = 0.55 * out[mask] + 0.45 * _TINT
    outline = mask & ~ndimage.binary_erosion(mask, border_value=0)
    out[outline] = (255, 255, 0)
    return out.astype(np.uint8)


def _label(panel: np.ndarray, text: str) -> np.ndarray:
    img = Image.fromarray(panel)
    draw = ImageDraw.Draw(img)
    left, top, right, bottom = draw.textbbox((2, 1), text)
    draw.rectangle((0, 0, right + 2, bottom + 1), fill=(0, 0, 0))
    draw.text((2, 1), text, fill=(255, 255, 255))
    return np.asarray(img)


def sample_grid(pairs: Sequence[AnomalyPair], *, max_rows: int = 8) -> np.ndarray:
    """HxWx3 uint8 picture, one row per pair (first `max_rows`): image | mask | overlay + defect type.

    All rows take the first pair's size (others are resized). No pairs (the ``none``
    generator) gives a small picture that says so, so callers can log it unconditionally.
    """
    if max_rows < 1:
        raise ValueError(f"max_rows must be at least 1, got {max_rows}")
    rows = list(pairs)[:max_rows]
    if not rows:
        blank = np.zeros((24, 200, 3), dtype=np.uint8)
        return _label(blank, "no anomaly pairs to show")
    h, w = rows[0].image.shape[:2]
    picture = np.full((len(rows) * (h + _GAP) - _GAP, 3 * (w + _GAP) - _GAP, 3), 255, dtype=np.uint8)
    for r, pair in enumerate(rows):
        image, mask = pair.image, pair.mask
        if image.shape[:2] != (h, w):
            image = np.asarray(Image.fromarray(image).resize((w, h), Image.BILINEAR))
            mask = np.asarray(Image.fromarray(mask).resize((w, h), Image.NEAREST))
        mask_panel = np.repeat((mask.astype(np.uint8) * 255)[..., None], 3, axis=2)
        panels = (image, mask_panel, _label(_overlay(image, mask), pair.defect_type))
        y = r * (h + _GAP)
        for c, panel in enumerate(panels):
            x = c * (w + _GAP)
            picture[y : y + h, x : x + w] = panel
    return picture
