"""Reading images and masks at the run's size, with errors that name the file.

In the core because plug-ins read the images and masks they are handed (and hash files) with it;
`harness.data` builds the sample tables on top of it.
"""

from __future__ import annotations

import hashlib
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError

from harness.core.fsio import atomic_path


class DatasetError(ValueError):
    """Bad dataset on disk; the message names the file and the fix, on one line."""


def oriented(img: Image.Image) -> Image.Image:
    """`img` turned as its EXIF orientation says (what a viewer shows), so an image and its mask agree."""
    from PIL import ImageOps

    return ImageOps.exif_transpose(img) if img.getexif().get(0x0112, 1) != 1 else img


@contextmanager
def decode_errors(path: Path) -> Iterator[None]:
    """Turn PIL's errors while opening or decoding `path` into one-line `DatasetError`s naming it
    and the fix (the one wording for the loader and the layout checks)."""
    try:
        yield
    except FileNotFoundError:
        raise DatasetError(f"{path}: file not found; check the dataset root") from None
    except Image.DecompressionBombError as exc:
        raise DatasetError(f"{path}: image too large to decode safely ({exc}); downscale the file, or raise "
                           "PIL.Image.MAX_IMAGE_PIXELS if you trust it") from None
    except (UnidentifiedImageError, OSError) as exc:
        raise DatasetError(f"{path}: unreadable image ({exc.__class__.__name__}); replace or remove the file") from None


def _open(path: Path) -> Image.Image:
    """The decoded image, turned as its EXIF orientation says (images and masks alike)."""
    with decode_errors(path):
        img = Image.open(path)
        img.load()
        return oriented(img)


#: 16/32-bit integer grayscale modes: scaled from their type's range, never clipped
_WIDE_GRAY = {"I;16": 65535, "I;16L": 65535, "I;16B": 65535, "I;16N": 65535, "I": 65535}
#: modes PIL converts to RGB by value range itself (16-bit RGB(A) PNGs open as RGB/RGBA, scaled)
_NATIVE = {"1", "L", "LA", "La", "P", "PA", "RGB", "RGBA", "RGBa", "RGBX", "CMYK", "YCbCr", "LAB", "HSV"}


def to_rgb(img: Image.Image, path: Path) -> Image.Image:
    """`img` as 8-bit RGB by value range: 16-bit grayscale is scaled (65535 → 255), not clipped
    (PIL's own ``convert`` clips ``I;16`` to 255, which made 16-bit camera images all white)."""
    mode = img.mode
    if mode in _NATIVE:
        return img if mode == "RGB" else img.convert("RGB")
    if mode in _WIDE_GRAY:
        arr = np.asarray(img).astype(np.int64)
        if arr.size and (arr.min() < 0 or arr.max() > _WIDE_GRAY[mode]):
            raise DatasetError(f"{path}: {mode} image with values {arr.min()}..{arr.max()} outside 0..65535 "
                               "cannot be read correctly; save it as 8- or 16-bit PNG")
        gray = np.round(arr * (255.0 / _WIDE_GRAY[mode])).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        if arr.size and (not np.isfinite(arr).all() or arr.min() < 0.0 or arr.max() > 1.0):
            raise DatasetError(f"{path}: float image with values outside 0..1 cannot be read correctly; "
                               "save it as 8- or 16-bit PNG")
        gray = np.round(arr * 255.0).astype(np.uint8)
        return Image.fromarray(np.repeat(gray[..., None], 3, axis=2), "RGB")
    raise DatasetError(f"{path}: image mode {mode} cannot be read correctly; save it as 8- or 16-bit PNG (gray or RGB)")


def mask_array(img: Image.Image, path: Path) -> np.ndarray:
    """HxW bool, ``> 0`` on the raw values (a 16-bit mask's 1 stays 1; palette masks by their colour)."""
    if img.mode in _WIDE_GRAY or img.mode == "F":
        return np.asarray(img) > 0
    if img.mode in _NATIVE:
        return np.asarray(img.convert("L")) > 0
    raise DatasetError(f"{path}: mask mode {img.mode} cannot be read correctly; save it as an 8-bit PNG (0 = normal)")


def load_image(path: str | Path, size: int | None = None) -> np.ndarray:
    """RGB uint8 HxWx3, resized (bilinear) to size×size when `size` is given."""
    path = Path(path)
    img = to_rgb(_open(path), path)
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
        arr = mask_array(m, Path(p))
        if size is not None and arr.shape != (size, size):
            arr = np.asarray(Image.fromarray(arr.astype(np.uint8) * 255).resize((size, size), Image.NEAREST)) > 0
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
    if array.dtype == np.bool_:
        array = array.astype(np.uint8) * 255
    picture = Image.fromarray(array)
    with atomic_path(path, need=array.nbytes) as tmp:
        picture.save(tmp, format="PNG", optimize=False)


def file_sha256(path: str | Path) -> str:
    """Hex sha256 of a file's bytes (the one file hash of the harness: splits, manifests, weights)."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()
