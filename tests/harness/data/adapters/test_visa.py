"""The VisA adapter on a tiny tree: split CSV read in place, defect types from image_anno.csv."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.table import DatasetError
from harness.core import DATASETS


def _img(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_visa(root: Path, *, anno: bool = True) -> Path:
    img = np.full((10, 14, 3), 70, np.uint8)
    mask = np.zeros((10, 14), np.uint8)
    mask[2:5, 2:5] = 1  # VisA masks hold small values, not 255
    lines = ["object,split,label,image,mask"]
    anno_lines = ["image,label,mask"]
    for i in range(4):
        rel = f"candle/Data/Images/Normal/{i:04d}.JPG"
        _img(root / rel, img)
        lines.append(f"candle,{'train' if i < 3 else 'test'},normal,{rel},")
        anno_lines.append(f"{rel},normal,")
    for i, label in enumerate(["chunk of wax missing", '"extra wax,wax melded out"', "chunk of wax missing"]):
        rel, mrel = f"candle/Data/Images/Anomaly/{i:03d}.JPG", f"candle/Data/Masks/Anomaly/{i:03d}.png"
        _img(root / rel, img)
        _img(root / mrel, mask)
        lines.append(f"candle,test,anomaly,{rel},{mrel}")
        anno_lines.append(f"{rel},{label},{mrel}")
    (root / "split_csv").mkdir(parents=True, exist_ok=True)
    (root / "split_csv/1cls.csv").write_text("\n".join(lines) + "\n")
    if anno:
        (root / "candle/image_anno.csv").write_text("\n".join(anno_lines) + "\n")
    return root


def test_table_from_split_csv(tmp_path):
    adapter = DATASETS.get("visa")(make_visa(tmp_path))
    assert adapter.categories() == ["candle"]
    t = adapter.load("candle")
    assert t.groupby(["split", "defect_type"]).size().to_dict() == {
        ("test", "chunk_of_wax_missing"): 2, ("test", "extra_wax"): 1, ("test", "good"): 1, ("train", "good"): 3
    }
    a = t[t["label"] == 1]
    assert all(Path(m[0]).parent.name == "Anomaly" for m in a["mask_paths"])


def test_without_annotations_defect_type_is_anomaly(tmp_path):
    t = DATASETS.get("visa")(make_visa(tmp_path, anno=False)).load("candle")
    assert set(t.loc[t["label"] == 1, "defect_type"]) == {"anomaly"}


def test_errors(tmp_path):
    with pytest.raises(DatasetError, match="1cls.csv: VisA split CSV not found"):
        DATASETS.get("visa")(tmp_path).categories()
    make_visa(tmp_path)
    with pytest.raises(DatasetError, match="no rows for object 'pcb1'"):
        DATASETS.get("visa")(tmp_path).load("pcb1")
    (tmp_path / "candle/Data/Images/Anomaly/001.JPG").unlink()
    with pytest.raises(DatasetError, match=r"001.JPG: listed in split_csv/1cls.csv but missing"):
        DATASETS.get("visa")(tmp_path).load("candle")
    (tmp_path / "split_csv/1cls.csv").write_text("object,split,image\ncandle,train,x.JPG\n")
    with pytest.raises(DatasetError, match=r"lacks columns \['label', 'mask'\]"):
        DATASETS.get("visa")(tmp_path).load("candle")
