"""`folder`: your own images — a folder of normals, a folder of anomalies, a folder of masks.

Params (folders relative to the root unless absolute)::

    normal_dir:       normal images (required)
    abnormal_dir:     anomalous images; subfolders, if any, are defect types
    mask_dir:         masks, mirroring abnormal_dir; a mask is <stem>.png or <stem>_mask.png
    normal_test_dir:  optional normal test images; without it a seeded `normal_test_fraction`
                      of normal_dir is held out as test normals
    category:         the category name (default: the root folder's name)

Why our own parser rather than anomalib's ``folder.make_folder_dataset``: it needs anomalib
(~5 s import), pairs masks by sorted position, and has no defect types (it labels every
anomaly the same), which the per-defect-type few-shot split needs.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.core.dataset import DatasetAdapter
from harness.data.table import DatasetError, sample_row
from harness.data.validate import build_table, find_mask, list_images, require_root, seeded_pick
from harness.core.plugin import PluginParams
from harness.core.registry import DATASETS

LAYOUT = "<root>/<normal_dir>/*, <root>/<abnormal_dir>/[<defect>/]*, <root>/<mask_dir>/[<defect>/]<stem>.png (folder)"


class FolderParams(PluginParams):
    normal_dir: str
    abnormal_dir: str
    mask_dir: str
    normal_test_dir: str | None = None
    normal_test_fraction: float = 0.2
    category: str | None = None
    seed: int = 0


@DATASETS.register("folder")
class FolderDataset(DatasetAdapter):
    """Plain folders of normal images, anomalous images (subfolders = defect types) and masks."""

    name = "folder"
    Params = FolderParams

    def _dir(self, root: Path, rel: str, what: str) -> Path:
        p = Path(rel) if Path(rel).is_absolute() else root / rel
        if not p.is_dir():
            raise DatasetError(f"{p}: {what} folder not found; set the folder adapter's {what} param to an existing folder ({LAYOUT})")
        return p

    def categories(self) -> list[str]:
        root = require_root(self.root, self.name, LAYOUT)
        return [self.params.category or root.resolve().name]

    def load(self, category: str) -> pd.DataFrame:
        root = require_root(self.root, self.name, LAYOUT)
        p = self.params
        if category not in self.categories():
            raise DatasetError(f"folder dataset has one category '{self.categories()[0]}', not '{category}'; set its `category` param")
        if not 0.0 < p.normal_test_fraction < 1.0:
            raise DatasetError(f"folder: normal_test_fraction {p.normal_test_fraction} must be in (0, 1)")
        normal_dir = self._dir(root, p.normal_dir, "normal_dir")
        abnormal_dir = self._dir(root, p.abnormal_dir, "abnormal_dir")
        mask_dir = self._dir(root, p.mask_dir, "mask_dir")
        rows = []

        def row(img: Path, masks: list[Path], label: int, defect: str, split: str) -> dict:
            return sample_row(img, masks, label=label, defect_type=defect, split=split, category=category)

        normals = list_images(normal_dir)
        if p.normal_test_dir is not None:
            test_normals = list_images(self._dir(root, p.normal_test_dir, "normal_test_dir"))
            held_out: set = set()
        else:
            test_normals = []
            held_out = seeded_pick(normals, p.normal_test_fraction, p.seed, f"folder:{category}")
        for img in normals:
            rows.append(row(img, [], 0, "good", "test" if img in held_out else "train"))
        for img in test_normals:
            rows.append(row(img, [], 0, "good", "test"))
        subdirs = sorted(d for d in abnormal_dir.iterdir() if d.is_dir() and list_images(d))
        groups = [(d.name, d, mask_dir / d.name) for d in subdirs] or [(abnormal_dir.name, abnormal_dir, mask_dir)]
        for defect, img_dir, mdir in groups:
            for img in list_images(img_dir):
                mask = find_mask(mdir, img)
                if mask is None:
                    raise DatasetError(f"{img}: no mask found; expected {mdir / (img.stem + '.png')} or {mdir / (img.stem + '_mask.png')}")
                rows.append(row(img, [mask], 1, defect, "test"))
        return build_table(rows, f"{self.name}:{root}")
