"""Reading images and masks at the run's size, with errors that name the file."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.data.table import DatasetError


def _open(path: Path) -> Image.Image:
    try:
        img = Image.open(path)
        img.load()
        return img
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found; check the dataset root") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: unreadable image ({exc.__class__.__name__}); replace or remove the file") from None


def load_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """RGB uint8 HxWx3, resized (bilinear) to size×size when `size` is given."""
    img = _open(Path(path)).convert("RGB")
    if size is not None and img.size != (size, size):
        img = img.resize((size, size), Image.BILINEAR)
    return np.asarray(img, dtype=np.uint8).copy()


def load_mask(paths: Sequence[str | Path], size: int | None = None, like: str | Path | None = None) -> np.ndarray:
    """Union of mask files as HxW bool (``> 0``: LOCO masks hold 234–255, not 255).

    With `like` (the image path), a mask whose size differs from its image is an error.
    """
    merged: np.ndarray | None = None
    ref_size = _open(Path(like)).size if like is not None else None
    for p in paths:
        m = _open(Path(p))
        if ref_size is not None and m.size != ref_size:
            raise DatasetError(
                f"{p}: mask is {m.size[0]}x{m.size[1]} but its image {like} is {ref_size[0]}x{ref_size[1]}; "
                "re-export the mask at the image's size"
            )
        m = m.convert("L")
        if size is not None and m.size != (size, size):
            m = m.resize((size, size), Image.NEAREST)
        arr = np.asarray(m) > 0
        merged = arr if merged is None else (merged | arr)
    if merged is None:
        if size is None:
            if like is None:
                raise ValueError("load_mask needs mask paths, a size or an image to size an empty mask")
            w, h = _open(Path(like)).size
            return np.zeros((h, w), dtype=bool)
        return np.zeros((size, size), dtype=bool)
    return merged


def save_png(array: np.ndarray, path: str | Path) -> None:
    """Write an image (HxWx3 uint8) or a mask (HxW bool → 0/255) as a PNG, deterministically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    Image.fromarray(array).save(path, format="PNG", optimize=False)


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()
