"""`builtin`: the procedural LOCO-like dataset (`harness.data.builtin`), drawn on first use.

With no root, each category is synthesized once, when first loaded, into a cache folder
(``$BENCH_DATA_DIR`` or ``~/.cache/anomaly-aug-bench``, subfolder
``builtin-v<version>-<size>px-seed<seed>/<category>``) — drawn into a temporary folder and
renamed, so a crash never leaves half a category — and read with the MVTec LOCO parser.
With a root, it reads what ``bench data synth`` wrote.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pandas as pd

from harness.data.adapters.mvtec_loco import LAYOUT, load_loco_category, loco_categories
from harness.core.dataset import DatasetAdapter
from harness.data.builtin import BUILTIN_CATEGORIES, BUILTIN_VERSION, synthesize
from harness.data.cache import cache_root
from harness.data.table import DatasetError
from harness.data.validate import require_root
from harness.core.plugin import PluginParams
from harness.core.registry import DATASETS


def _complete(folder: Path) -> bool:
    return (folder / "defects_config.json").is_file()


def cached_builtin(image_size: int, seed: int, category: str) -> Path:
    """The cache folder holding `category` at this size and seed; the category is drawn if absent.

    Only the category asked for is drawn (pushpins alone: 9 of the 29 s that all four take at
    128 px on one core): every image is a function of (category, split, index, seed), so a
    category drawn alone is byte for byte the one drawn with the others.
    """
    target = cache_root() / f"builtin-v{BUILTIN_VERSION}-{image_size}px-seed{seed}"
    if _complete(target / category):
        return target
    try:
        target.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{category}-", dir=target))
    except OSError as exc:
        raise DatasetError(
            f"{target}: cannot write the builtin dataset cache ({exc.__class__.__name__}); "
            "set BENCH_DATA_DIR to a writable folder"
        ) from None
    try:
        synthesize(tmp, categories=[category], image_size=image_size, seed=seed)
        try:
            os.replace(tmp / category, target / category)
        except OSError:
            # another process finished it first (keep theirs), or a stale partial folder
            if not _complete(target / category):
                shutil.rmtree(target / category, ignore_errors=True)
                os.replace(tmp / category, target / category)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


class BuiltinParams(PluginParams):
    #: Seed of the drawing (a different seed is a different dataset).
    seed: int = 0


@DATASETS.register("builtin")
class BuiltinDataset(DatasetAdapter):
    """Built-in procedural LOCO-like dataset (pushpins, screw_bag, juice_bottle, tiles); offline."""

    name = "builtin"
    Params = BuiltinParams
    generated_without_root = "$BENCH_DATA_DIR or ~/.cache/anomaly-aug-bench"

    def _root(self, category: str | None = None) -> Path:
        """The folder to read `category` from: the given root, or the cache (drawn if absent)."""
        if self.root is None:
            assert category is not None
            return cached_builtin(self.image_size, self.params.seed, category)
        return require_root(self.root, self.name, f"the output of `bench data synth`: {LAYOUT}")

    def categories(self) -> list[str]:
        if self.root is None:
            return list(BUILTIN_CATEGORIES)
        return loco_categories(self._root())

    def load(self, category: str) -> pd.DataFrame:
        if self.root is None and category not in BUILTIN_CATEGORIES:
            raise DatasetError(f"unknown builtin category '{category}'; choose from {', '.join(BUILTIN_CATEGORIES)}")
        root = self._root(category)
        if category not in loco_categories(root):
            raise DatasetError(f"{root / category}: category not found; available: {', '.join(loco_categories(root))}")
        return load_loco_category(root, category, source=self.name)
