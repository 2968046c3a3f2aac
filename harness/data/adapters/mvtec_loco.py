"""`mvtec_loco`: MVTec LOCO AD layout → sample table (several masks per image, sPRO thresholds).

Why our own parser rather than anomalib's ``mvtec_loco.make_dataset``: anomalib pairs
images with mask folders by sorted position (a missing or extra mask folder shifts every
pairing or fails with a generic mismatch), reads no ``defects_config.json`` and so gives
neither the defect type of an image (LOCO's test folders are per *kind*) nor the per-mask
sPRO saturation threshold; and with pandas 3 it fails outright (it writes lists into a
string column: ``TypeError: Invalid value for dtype 'str'``). We pair by name, read each mask's pixel value and map it through
``defects_config.json``. anomalib's downloader is still used for ``download=True``.

Layout (per category)::

    <root>/<category>/train/good/*.png
    <root>/<category>/validation/good/*.png
    <root>/<category>/test/good/*.png
    <root>/<category>/test/{logical,structural}_anomalies/NNN.png
    <root>/<category>/ground_truth/{logical,structural}_anomalies/NNN/000.png [001.png ...]
    <root>/<category>/defects_config.json
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pandas as pd
from PIL import Image

from harness.core.dataset import DatasetAdapter
from harness.data.table import DatasetError
from harness.data.validate import build_table, image_size, list_images, require_dir, require_root
from harness.core.plugin import PluginParams
from harness.core.registry import DATASETS

log = logging.getLogger(__name__)

LAYOUT = (
    "<root>/<category>/{train/good, validation/good, test/good, test/logical_anomalies, "
    "test/structural_anomalies, ground_truth/<kind>/NNN/000.png, defects_config.json} (MVTec LOCO AD)"
)
KINDS = {"logical_anomalies": "logical", "structural_anomalies": "structural"}


def read_defects_config(path: Path) -> dict[int, tuple[str, float, bool]]:
    """pixel value → (defect_name, saturation_threshold, relative_saturation)."""
    try:
        entries = json.loads(path.read_text())
        out = {}
        for e in entries:
            out[int(e["pixel_value"])] = (str(e["defect_name"]), float(e["saturation_threshold"]), bool(e["relative_saturation"]))
        return out
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise DatasetError(
            f"{path}: malformed defects_config.json ({exc.__class__.__name__}: {exc}); it must be a list of objects with "
            "defect_name, pixel_value, saturation_threshold, relative_saturation"
        ) from None


def mask_value(path: Path) -> int:
    """The defect's pixel value in a LOCO mask (its maximum; 0 means an empty mask)."""
    image_size(path)  # readable, or a one-line error
    with Image.open(path) as m:
        return int(np.asarray(m.convert("L")).max())


def load_loco_category(root: Path, category: str, *, source: str = "mvtec_loco") -> pd.DataFrame:
    """Parse one LOCO category folder into the sample table (see module docstring)."""
    cat_dir = require_dir(root / category, LAYOUT)
    for sub in ("train/good", "test"):
        require_dir(cat_dir / sub, LAYOUT)
    config_path = cat_dir / "defects_config.json"
    config = read_defects_config(config_path) if config_path.is_file() else None
    if config is None:
        log.warning("%s missing: defect types fall back to the kind folder, sPRO saturation to 1.0 (relative)", config_path)
    rows = []
    for split, folder in (("train", "train/good"), ("validation", "validation/good"), ("test", "test/good")):
        for img in list_images(cat_dir / folder):
            rows.append(_row(img, [], [], 0, "good", "", split, category))
    for kind_folder, kind in KINDS.items():
        for img in list_images(cat_dir / "test" / kind_folder):
            mask_dir = cat_dir / "ground_truth" / kind_folder / img.stem
            masks = list_images(mask_dir)
            if not masks:
                raise DatasetError(f"{img}: no masks in {mask_dir}; LOCO expects ground_truth/{kind_folder}/{img.stem}/000.png")
            saturation, names = [], []
            for m in masks:
                if config is None:
                    names.append(kind_folder)
                    saturation.append((1.0, True))
                    continue
                value = mask_value(m)
                if value not in config:
                    raise DatasetError(
                        f"{m}: mask pixel value {value} is not in {config_path} (known: {sorted(config)}); "
                        "fix the mask or add the defect to defects_config.json"
                    )
                name, thr, rel = config[value]
                names.append(name)
                saturation.append((thr, rel))
            rows.append(_row(img, [str(m) for m in masks], saturation, 1, names[0], kind, "test", category))
    return build_table(rows, f"{source}:{cat_dir}")


def _row(img: Path, masks: list[str], saturation: list, label: int, defect: str, kind: str, split: str, category: str) -> dict:
    return {
        "image_path": str(img.resolve()),
        "mask_paths": [str(Path(m).resolve()) for m in masks],
        "mask_saturation": saturation,
        "label": label,
        "defect_type": defect,
        "anomaly_kind": kind,
        "split": split,
        "category": category,
    }


def loco_categories(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir() if p.is_dir() and (p / "train").is_dir())


class MVTecLOCOParams(PluginParams):
    #: Download MVTec LOCO AD (anomalib's downloader, ~5 GB) into the root when it is missing.
    download: bool = False


@DATASETS.register("mvtec_loco")
class MVTecLOCO(DatasetAdapter):
    """MVTec LOCO AD: logical + structural anomalies, several masks per image, sPRO thresholds."""

    name = "mvtec_loco"
    Params = MVTecLOCOParams

    def _root(self) -> Path:
        missing = self.root is None or not self.root.is_dir() or not loco_categories(self.root)
        if self.params.download and missing:
            _download(self.root)
        root = require_root(self.root, self.name, LAYOUT)
        if not loco_categories(root):
            raise DatasetError(f"{root}: no category folders with train/ found; mvtec_loco expects {LAYOUT}")
        return root

    def categories(self) -> list[str]:
        return loco_categories(self._root())

    def load(self, category: str) -> pd.DataFrame:
        root = self._root()
        if category not in loco_categories(root):
            raise DatasetError(f"{root / category}: category not found; available: {', '.join(loco_categories(root))}")
        return load_loco_category(root, category)


def _download(root: Path | None) -> None:
    if root is None:
        raise DatasetError("mvtec_loco: download=true needs a root folder to download into")
    try:  # anomalib is slow to import: only here, never at registry load
        from anomalib.data.datasets.image.mvtec_loco import DOWNLOAD_INFO
        from anomalib.data.utils import download_and_extract

        download_and_extract(Path(root), DOWNLOAD_INFO)
    except OSError as exc:  # offline: urllib raises URLError (an OSError)
        raise DatasetError(
            f"{root}: MVTec LOCO AD download failed ({exc.__class__.__name__}); without internet, download "
            f"mvtec_loco_anomaly_detection.tar.xz elsewhere and extract it so that {LAYOUT}"
        ) from None
