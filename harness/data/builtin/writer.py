"""Lays the built-in dataset out on disk in MVTec LOCO AD layout, one category at a time."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Sequence

import numpy as np
from PIL import Image

from harness.data.builtin.categories import _SCENES, BUILTIN_CATEGORIES, defects_config
from harness.data.builtin.render import render_sample
from harness.data.table import DatasetError
from harness.fsio import atomic_path

DEFAULT_COUNTS = {"train": 120, "validation": 20, "test_good": 40, "per_defect": 30}


#: mode of every written file: readable by all, like the category folders (0o755), whatever the
#: umask (atomic_path would otherwise apply the umask)
_FILE_MODE = 0o644


def _default_counts() -> dict[str, int]:
    """`DEFAULT_COUNTS` as `harness.data.builtin` holds it now (tests shrink it there)."""
    import harness.data.builtin as package

    return package.DEFAULT_COUNTS


def _save(array: np.ndarray, path: Path) -> None:
    with atomic_path(path, need=array.nbytes, durable=False) as tmp:  # the category folder is renamed in whole
        Image.fromarray(array).save(tmp, format="PNG", optimize=False, compress_level=6)
        os.chmod(tmp, _FILE_MODE)


def _write_category(root: Path, category: str, image_size: int, seed: int, counts: dict[str, int]) -> None:
    config = defects_config(category, image_size)
    values = {d["defect_name"]: d["pixel_value"] for d in config}
    for split, folder in (("train", "train/good"), ("validation", "validation/good"), ("test_good", "test/good")):
        (root / folder).mkdir(parents=True, exist_ok=True)
        for i in range(counts[split]):
            img, _ = render_sample(category, split, i, image_size=image_size, seed=seed)
            _save(img, root / folder / f"{i:03d}.png")
    cls = _SCENES[category]
    for kind, names in (("logical_anomalies", cls.logical), ("structural_anomalies", cls.structural)):
        (root / "test" / kind).mkdir(parents=True, exist_ok=True)
        index = 0
        for name in names:
            for _ in range(counts["per_defect"]):
                img, defects = render_sample(category, kind, index, image_size=image_size, seed=seed, defect=name)
                _save(img, root / "test" / kind / f"{index:03d}.png")
                mask_dir = root / "ground_truth" / kind / f"{index:03d}"
                mask_dir.mkdir(parents=True, exist_ok=True)
                for j, (dname, m) in enumerate(defects):
                    _save((m.astype(np.uint8) * values[dname]).astype(np.uint8), mask_dir / f"{j:03d}.png")
                index += 1
    config_path = root / "defects_config.json"
    with atomic_path(config_path) as tmp:
        tmp.write_text(json.dumps(config, indent=4) + "\n")
        os.chmod(tmp, _FILE_MODE)


def synthesize(
    out: Path,
    *,
    categories: Sequence[str] | None = None,
    image_size: int = 128,
    seed: int = 0,
    counts: dict[str, int] | None = None,
) -> list[str]:
    """Write the built-in dataset under `out` in MVTec LOCO AD layout; return the categories.

    Per category: ``train/good``, ``validation/good``, ``test/good``,
    ``test/{logical,structural}_anomalies/NNN.png``, ``ground_truth/<kind>/NNN/MMM.png``
    (one mask per defect, pixel value = the defect's ``pixel_value``) and
    ``defects_config.json``. `counts` overrides ``DEFAULT_COUNTS`` (keys ``train``,
    ``validation``, ``test_good``, ``per_defect``). Each category is drawn into a temporary
    folder and renamed into place, so a crash never leaves half a category; an existing
    category folder is an error (nothing is overwritten).
    """
    out = Path(out)
    cats = list(categories) if categories else list(BUILTIN_CATEGORIES)
    unknown = [c for c in cats if c not in _SCENES]
    if unknown:
        raise DatasetError(f"unknown builtin categories {unknown}; choose from {', '.join(BUILTIN_CATEGORIES)}")
    if image_size < 32:
        raise DatasetError(f"builtin image_size {image_size} is too small to draw the scenes; use 32 or more")
    defaults = _default_counts()
    n = {**defaults, **(counts or {})}
    bad = [k for k in n if k not in defaults or int(n[k]) < 1]
    if bad:
        raise DatasetError(f"builtin counts {bad}: keys must be {sorted(defaults)} with values >= 1")
    existing = [c for c in cats if (out / c).exists()]
    if existing:
        raise DatasetError(f"{out / existing[0]}: already exists; delete it or choose another output folder")
    out.mkdir(parents=True, exist_ok=True)
    for cat in cats:
        tmp = Path(tempfile.mkdtemp(prefix=f".{cat}-", dir=out))
        os.chmod(tmp, 0o755)  # mkdtemp makes it private; the dataset is not
        try:
            _write_category(tmp, cat, image_size, seed, n)
            os.replace(tmp, out / cat)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return cats
