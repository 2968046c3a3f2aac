"""`builtin`: the procedural LOCO-like dataset (`harness.data.builtin`), drawn on first use.

With no root, the dataset is synthesized once into a cache folder (``$BENCH_DATA_DIR`` or
``~/.cache/anomaly-aug-bench``, subfolder ``builtin-v<version>-<size>px-seed<seed>``) —
drawn into a temporary folder and renamed, so a crash never leaves half a dataset —
and read with the MVTec LOCO parser. With a root, it reads what ``bench data synth`` wrote.
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
from harness.data.table import DatasetError
from harness.data.validate import require_root
from harness.core.plugin import PluginParams
from harness.core.registry import DATASETS


def cache_root() -> Path:
    env = os.environ.get("BENCH_DATA_DIR")
    return Path(env).expanduser() if env else Path.home() / ".cache" / "anomaly-aug-bench"


def cached_builtin(image_size: int, seed: int) -> Path:
    """The cache folder holding every built-in category at this size and seed, made if absent."""
    target = cache_root() / f"builtin-v{BUILTIN_VERSION}-{image_size}px-seed{seed}"
    if target.is_dir() and all((target / c / "defects_config.json").is_file() for c in BUILTIN_CATEGORIES):
        return target
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}-", dir=target.parent))
    except OSError as exc:
        raise DatasetError(
            f"{target.parent}: cannot write the builtin dataset cache ({exc.__class__.__name__}); "
            "set BENCH_DATA_DIR to a writable folder"
        ) from None
    try:
        synthesize(tmp, image_size=image_size, seed=seed)
        os.chmod(tmp, 0o755)
        try:
            os.replace(tmp, target)
        except OSError:
            # another process finished first (target now non-empty), or a stale partial dir
            if target.is_dir() and all((target / c / "defects_config.json").is_file() for c in BUILTIN_CATEGORIES):
                shutil.rmtree(tmp, ignore_errors=True)
            else:
                shutil.rmtree(target, ignore_errors=True)
                os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return target


class BuiltinParams(PluginParams):
    #: Seed of the drawing (a different seed is a different dataset).
    seed: int = 0


@DATASETS.register("builtin")
class BuiltinDataset(DatasetAdapter):
    """Built-in procedural LOCO-like dataset (pushpins, screw_bag, juice_bottle, tiles); offline."""

    name = "builtin"
    Params = BuiltinParams

    def _root(self) -> Path:
        if self.root is None:
            return cached_builtin(self.image_size, self.params.seed)
        return require_root(self.root, self.name, f"the output of `bench data synth`: {LAYOUT}")

    def categories(self) -> list[str]:
        if self.root is None:
            return list(BUILTIN_CATEGORIES)
        return loco_categories(self._root())

    def load(self, category: str) -> pd.DataFrame:
        if self.root is None and category not in BUILTIN_CATEGORIES:
            raise DatasetError(f"unknown builtin category '{category}'; choose from {', '.join(BUILTIN_CATEGORIES)}")
        root = self._root()
        if category not in loco_categories(root):
            raise DatasetError(f"{root / category}: category not found; available: {', '.join(loco_categories(root))}")
        return load_loco_category(root, category, source=self.name)
