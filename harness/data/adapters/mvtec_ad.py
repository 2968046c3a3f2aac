"""`mvtec_ad`: MVTec AD layout (and look-alikes such as the shared hazelnut / battery-weld sets).

Layout (per category)::

    <root>/<category>/train/good/*
    <root>/<category>/test/good/*
    <root>/<category>/test/<defect>/*
    <root>/<category>/ground_truth/<defect>/<stem>_mask.png   (or <stem>.png)

Why our own parser rather than anomalib's ``make_mvtec_ad_dataset``: anomalib only lists
``.png`` files (on the shared hazelnut set, JPEG images with PNG masks, it fails with
``ValueError: Must have equal len keys and value``), pairs images with masks by sorted
position (one missing mask misaligns the rest or fails with a message naming no file),
accepts any mask whose name *contains* the image stem (``1`` matches ``11_mask``), and takes
~5 s to import. We pair by exact stem, report the image without a mask, and check mask
sizes. anomalib's downloader is still used for ``download=True``.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from harness.core.dataset import DatasetAdapter
from harness.data.table import DatasetError, sample_row
from harness.data.validate import build_table, find_mask, list_images, require_dir, require_root
from harness.core.plugin import PluginParams
from harness.core.registry import DATASETS

LAYOUT = "<root>/<category>/{train/good, test/good, test/<defect>, ground_truth/<defect>/<stem>_mask.png or <stem>.png} (MVTec AD)"


def mvtec_categories(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "train" / "good").is_dir())


def load_mvtec_category(root: Path, category: str, *, source: str = "mvtec_ad") -> pd.DataFrame:
    cat_dir = require_dir(root / category, LAYOUT)
    require_dir(cat_dir / "train" / "good", LAYOUT)
    require_dir(cat_dir / "test", LAYOUT)
    rows = []

    def row(img: Path, masks: list[Path], label: int, defect: str, split: str) -> dict:
        return sample_row(img, masks, label=label, defect_type=defect, split=split, category=category)

    for img in list_images(cat_dir / "train" / "good"):
        rows.append(row(img, [], 0, "good", "train"))
    for img in list_images(cat_dir / "validation" / "good"):
        rows.append(row(img, [], 0, "good", "validation"))
    for defect_dir in sorted(p for p in (cat_dir / "test").iterdir() if p.is_dir()):
        defect = defect_dir.name
        for img in list_images(defect_dir):
            if defect == "good":
                rows.append(row(img, [], 0, "good", "test"))
                continue
            mask_dir = cat_dir / "ground_truth" / defect
            mask = find_mask(mask_dir, img)
            if mask is None:
                raise DatasetError(
                    f"{img}: no mask found; expected {mask_dir / (img.stem + '_mask.png')} or {mask_dir / (img.stem + '.png')}"
                )
            rows.append(row(img, [mask], 1, defect, "test"))
    return build_table(rows, f"{source}:{cat_dir}")


class MVTecADParams(PluginParams):
    #: Download MVTec AD (anomalib's downloader, ~5 GB) into the root when it is missing.
    download: bool = False


@DATASETS.register("mvtec_ad", aliases=("mvtec",))
class MVTecAD(DatasetAdapter):
    """MVTec AD layout: train/good, test/<defect>, ground_truth/<defect> masks (also JPEG sets)."""

    name = "mvtec_ad"
    Params = MVTecADParams

    def _root(self) -> Path:
        missing = self.root is None or not self.root.is_dir() or not mvtec_categories(self.root)
        if self.params.download and missing:
            _download(self.root)
        root = require_root(self.root, self.name, LAYOUT)
        if not mvtec_categories(root):
            raise DatasetError(f"{root}: no category folders with train/good found; mvtec_ad expects {LAYOUT}")
        return root

    def categories(self) -> list[str]:
        return mvtec_categories(self._root())

    def load(self, category: str) -> pd.DataFrame:
        root = self._root()
        if category not in mvtec_categories(root):
            raise DatasetError(f"{root / category}: category not found; available: {', '.join(mvtec_categories(root))}")
        return load_mvtec_category(root, category)


def _download(root: Path | None) -> None:
    if root is None:
        raise DatasetError("mvtec_ad: download=true needs a root folder to download into")
    try:  # anomalib is slow to import: only here, never at registry load
        from anomalib.data.datamodules.image.mvtecad import DOWNLOAD_INFO
        from anomalib.data.utils import download_and_extract

        download_and_extract(Path(root), DOWNLOAD_INFO)
    except OSError as exc:  # offline: urllib raises URLError (an OSError)
        raise DatasetError(
            f"{root}: MVTec AD download failed ({exc.__class__.__name__}); without internet, download "
            f"mvtec_anomaly_detection.tar.xz elsewhere and extract it so that {LAYOUT}"
        ) from None
