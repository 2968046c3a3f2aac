"""The mask policy: a mask is binary (every pixel 0 or the mask's one "on" value), or the spec says
how to binarise it.

Masks used to be read as ``> 0``: a soft or anti-aliased mask whose background is 1 made the
whole image ground truth, and a JPEG mask's compression halo nearly doubled a defect's area,
silently. Now a mask with pixels that are neither 0 nor its maximum is refused, naming the file
and the count; with the dataset's ``mask_threshold: T`` it is binarised as ``> T`` (the count
reported), and the run reads a 0/255 copy written under the cache, so every reader downstream
(``harness.data.io.load_mask``: ``> 0``) sees the same binary mask.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
from PIL import Image

#: formats whose compression changes pixel values: a mask saved so is never exactly binary
LOSSY_SUFFIXES = (".jpg", ".jpeg", ".jpe", ".jfif", ".webp")


def mask_values(img: Image.Image, path: Path) -> np.ndarray:
    """The mask's raw values as an integer array (palette and colour masks through their gray level)."""
    from harness.data.io import _NATIVE, _WIDE_GRAY

    if img.mode in _WIDE_GRAY:
        return np.asarray(img).astype(np.int64)
    if img.mode == "F":
        return np.round(np.asarray(img, dtype=np.float64) * 255).astype(np.int64)
    if img.mode in _NATIVE:
        return np.asarray(img.convert("L")).astype(np.int64)
    from harness.data.table import DatasetError

    raise DatasetError(f"{path}: mask mode {img.mode} cannot be read correctly; save it as an 8-bit PNG (0 = normal)")


def nonbinary(values: np.ndarray) -> tuple[int, int, int]:
    """(pixels neither 0 nor the maximum, the maximum, one such value or -1)."""
    top = int(values.max()) if values.size else 0
    odd = (values != 0) & (values != top)
    n = int(odd.sum())
    return n, top, (int(values[odd].flat[0]) if n else -1)


def refusal(path: str, n: int, top: int, example: int) -> str:
    lossy = Path(path).suffix.lower() in LOSSY_SUFFIXES
    why = " (a lossy format: compression blurs its edges; export masks as PNG)" if lossy else ""
    return (f"{path}: mask is not binary: {n} pixel(s) are neither 0 nor {top} (e.g. {example}){why}; read as > 0 "
            f"they would all be defect. Re-export it as 0/255, or set `mask_threshold: T` on the dataset "
            f"(pixels > T are defect)")


def binarised_copy(path: str, sha256: str, threshold: int, cache: Path) -> str:
    """A 0/255 PNG of the mask `path` cut at ``> threshold``, written once under `cache`; its path."""
    from harness.data.io import save_png

    out = cache / "binarised-masks" / f"{sha256[:24]}-gt{threshold}.png"
    if not out.is_file():
        with Image.open(path) as img:
            img.load()
            save_png(mask_values(img, Path(path)) > threshold, out)
    return str(out)


def content_key(sha256: str, threshold: int | None) -> str:
    """What decides a binarised mask: its file and the threshold (part of the data fingerprint)."""
    return sha256 if threshold is None else hashlib.sha256(f"{sha256}>{threshold}".encode()).hexdigest()
