"""`visa`: VisA read in place through its split CSV (``split_csv/1cls.csv``).

Layout::

    <root>/split_csv/1cls.csv            columns object,split,label,image,mask (paths relative to root)
    <root>/<object>/Data/Images/{Normal,Anomaly}/*.JPG
    <root>/<object>/Data/Masks/Anomaly/*.png
    <root>/<object>/image_anno.csv       optional: image,label,mask — gives the defect type

Why our own parser rather than anomalib's VisA datamodule: anomalib first copies the whole
dataset into a second MVTec-style tree (``visa_pytorch``, ~2 GB more) and drops the defect
names; we read the CSV in place and take each anomaly's defect type from
``image_anno.csv`` (first label when there are several), so the few-shot split can be per
defect type. VisA masks hold small non-zero values, which ``harness.data.io.load_mask``
binarises with ``> 0``. anomalib's downloader is still used for ``download=True``.
"""

from __future__ import annotations

import re
from pathlib import Path

import pandas as pd

from harness.core.dataset import DatasetAdapter
from harness.data.table import DatasetError
from harness.data.validate import build_table, require_root
from harness.core.plugin import PluginParams
from harness.core.registry import DATASETS

LAYOUT = "<root>/split_csv/1cls.csv (columns object,split,label,image,mask) and <root>/<object>/Data/{Images,Masks} (VisA)"
CSV_COLUMNS = ("object", "split", "label", "image", "mask")


def _slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "_", text.strip().lower()).strip("_") or "anomaly"


def read_split_csv(root: Path) -> pd.DataFrame:
    path = root / "split_csv" / "1cls.csv"
    if not path.is_file():
        raise DatasetError(f"{path}: VisA split CSV not found; visa expects {LAYOUT}")
    try:
        csv = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, UnicodeDecodeError) as exc:
        raise DatasetError(f"{path}: unreadable CSV ({exc.__class__.__name__}); restore the file from the VisA archive") from None
    missing = [c for c in CSV_COLUMNS if c not in csv.columns]
    if missing:
        raise DatasetError(f"{path}: CSV lacks columns {missing}; expected header {','.join(CSV_COLUMNS)}")
    bad = csv[~csv["label"].isin(["normal", "anomaly"]) | ~csv["split"].isin(["train", "test"])]
    if len(bad):
        r = bad.iloc[0]
        raise DatasetError(f"{path}: row for {r['image']} has split '{r['split']}' label '{r['label']}'; use train/test and normal/anomaly")
    return csv


def _defect_types(root: Path, category: str) -> dict[str, str]:
    """image path (relative to root) → defect type, from ``<object>/image_anno.csv``."""
    path = root / category / "image_anno.csv"
    if not path.is_file():
        return {}
    anno = pd.read_csv(path, dtype=str, keep_default_na=False)
    if not {"image", "label"} <= set(anno.columns):
        raise DatasetError(f"{path}: expected columns image,label,mask; restore the file from the VisA archive")
    return {img: _slug(label.split(",")[0]) for img, label in zip(anno["image"], anno["label"])}


class VisAParams(PluginParams):
    #: Download VisA (anomalib's downloader, ~1.8 GB) into the root when it is missing.
    download: bool = False


@DATASETS.register("visa")
class VisA(DatasetAdapter):
    """VisA, read in place through split_csv/1cls.csv; defect types from image_anno.csv."""

    name = "visa"
    Params = VisAParams

    def _root(self) -> Path:
        missing = self.root is None or not (self.root / "split_csv" / "1cls.csv").is_file()
        if self.params.download and missing:
            _download(self.root)
        return require_root(self.root, self.name, LAYOUT)

    def categories(self) -> list[str]:
        return sorted(read_split_csv(self._root())["object"].unique())

    def load(self, category: str) -> pd.DataFrame:
        root = self._root()
        csv = read_split_csv(root)
        rows_csv = csv[csv["object"] == category]
        if rows_csv.empty:
            raise DatasetError(f"{root / 'split_csv' / '1cls.csv'}: no rows for object '{category}'; available: {', '.join(sorted(csv['object'].unique()))}")
        types = _defect_types(root, category)
        rows = []
        for r in rows_csv.itertuples(index=False):
            img = root / r.image
            if not img.is_file():
                raise DatasetError(f"{img}: listed in split_csv/1cls.csv but missing; restore it from the VisA archive")
            label = 1 if r.label == "anomaly" else 0
            masks = [root / r.mask] if (label and r.mask) else []
            rows.append(
                {
                    "image_path": str(img.resolve()),
                    "mask_paths": [str(m.resolve()) for m in masks],
                    "mask_saturation": [(1.0, True)] * len(masks),
                    "label": label,
                    "defect_type": types.get(r.image, "anomaly") if label else "good",
                    "anomaly_kind": "",
                    "split": r.split,
                    "category": category,
                }
            )
        return build_table(rows, f"{self.name}:{root}/{category}")


def _download(root: Path | None) -> None:
    if root is None:
        raise DatasetError("visa: download=true needs a root folder to download into")
    try:
        from anomalib.data.datamodules.image.visa import DOWNLOAD_INFO
        from anomalib.data.utils import download_and_extract

        download_and_extract(Path(root), DOWNLOAD_INFO)
    except OSError as exc:
        raise DatasetError(
            f"{root}: VisA download failed ({exc.__class__.__name__}); without internet, download VisA_20220922.tar "
            f"elsewhere and extract it so that {LAYOUT}"
        ) from None
