"""Shared checks for dataset adapters: one-line `DatasetError`s that name the file and the fix.

Adapters call these while parsing, before returning a table, so bad data fails at load
time (not halfway through a grid run) and nothing is written on error.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Any, Iterable

import numpy as np
import pandas as pd
from PIL import Image

from harness.core.io import decode_errors
from harness.data.table import COLUMNS, DatasetError, check_table

IMAGE_EXTENSIONS: tuple[str, ...] = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")


def require_root(root: Path | None, adapter: str, layout: str) -> Path:
    """The dataset root, or an error that says which layout is expected there."""
    if root is None:
        raise DatasetError(f"{adapter}: no dataset root given; pass the folder that holds {layout}")
    root = Path(root)
    if root.exists() and not root.is_dir():
        raise DatasetError(f"{root}: dataset root is a file, not a folder; set root to the folder that holds {layout}")
    if not root.is_dir():
        raise DatasetError(f"{root}: dataset root not found; {adapter} expects {layout}")
    return root


def require_dir(path: Path, layout: str) -> Path:
    if not path.is_dir():
        raise DatasetError(f"{path}: folder not found; expected layout {layout}")
    return path


#: files that mark a folder as bench's own output (a report, a run folder): never data
BENCH_OUTPUT_MARKERS: tuple[tuple[str, ...], ...] = (("results.md", "cells.json"), (".bench.lock",), ("spec.json", "cells"))


def is_bench_output(folder: Path) -> bool:
    """Whether `folder` is a `bench report` or `bench run` output (its figure is no training image)."""
    return any(all((folder / name).exists() for name in marker) for marker in BENCH_OUTPUT_MARKERS)


def list_images(folder: Path) -> list[Path]:
    """Image files directly in `folder`, sorted by name (hidden files and bench output folders skipped)."""
    if not folder.is_dir() or is_bench_output(folder):
        return []
    return sorted(p for p in folder.iterdir() if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS)


def image_size(path: Path) -> tuple[int, int]:
    """(width, height) as a viewer shows it (EXIF orientation applied) from the file header; an
    unreadable file is a `DatasetError`."""
    with decode_errors(path), Image.open(path) as img:
        w, h = img.size
        try:
            turned = img.getexif().get(0x0112, 1) in (5, 6, 7, 8)
        except (OSError, SyntaxError, ValueError):  # a cut file: the deep check names it (`truncated`)
            turned = False
        return (h, w) if turned else (w, h)


def check_files(table: pd.DataFrame) -> None:
    """Every image readable; every mask readable and the size of its image."""
    for image_path, masks in zip(table["image_path"], table["mask_paths"]):
        size = image_size(Path(image_path))
        for m in masks:
            msize = image_size(Path(m))
            if msize != size:
                raise DatasetError(
                    f"{m}: mask is {msize[0]}x{msize[1]} but its image {image_path} is {size[0]}x{size[1]}; "
                    "re-export the mask at the image's size"
                )


def check_deep(table: pd.DataFrame) -> None:
    """Decode every pixel (in parallel, cached by size + mtime): catches truncated files headers miss.

    `bench run` does this for every table before anything runs (`harness.data.fingerprint`).
    """
    from harness.data.fingerprint import check_files_deep

    check_files_deep(table)


def build_table(rows: Iterable[dict[str, Any]], source: str, *, check: bool = True) -> pd.DataFrame:
    """Rows → the sample table (columns of `harness.data.table`), checked, sorted by path."""
    table = pd.DataFrame(list(rows), columns=list(COLUMNS))
    if table.empty:
        raise DatasetError(f"{source}: no images found; check the dataset root and layout")
    table = table.sort_values(["split", "label", "image_path"], kind="stable").reset_index(drop=True)
    table["label"] = table["label"].astype(int)
    no_mask = table[(table["label"] == 1) & (table["mask_paths"].map(len) == 0)]
    if len(no_mask):
        types = sorted(no_mask["defect_type"].unique())
        raise DatasetError(
            f"{no_mask['image_path'].iloc[0]}: anomalous image has no mask (defect types without masks: "
            f"{', '.join(types)}); add its ground-truth mask or remove the image"
        )
    check_table(table, source)
    if check:
        check_files(table)
    return table


def find_mask(mask_dir: Path, image: Path) -> Path | None:
    """The mask of `image` in `mask_dir`: same stem (``000.png``) or ``<stem>_mask`` (MVTec AD).

    Matched by exact stem, never by position or substring, so a missing mask is reported
    for the right image instead of shifting every pairing.
    """
    for stem in (image.stem, f"{image.stem}_mask"):
        for ext in (".png", ".PNG", *IMAGE_EXTENSIONS):
            candidate = mask_dir / f"{stem}{ext}"
            if candidate.is_file():
                return candidate
    return None


def seeded_pick(items: list, fraction: float, seed: int, salt: str) -> set:
    """A seeded subset of `items` (at least 1 and at most all but 1 when there are 2 or more)."""
    if len(items) < 2:
        return set()
    k = min(max(round(fraction * len(items)), 1), len(items) - 1)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), zlib.crc32(salt.encode())]))
    return {items[i] for i in rng.choice(len(items), size=k, replace=False).tolist()}
