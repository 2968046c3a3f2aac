"""The folder adapter: defect subfolders, mask naming, the seeded normal test hold-out."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.table import DatasetError
from harness.core import DATASETS, ParamError


def _png(path: Path, value: int, shape=(8, 8, 3)) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(np.full(shape, value, np.uint8)).save(path)


def make_folder(root: Path, *, subfolders: bool = True) -> Path:
    for i in range(10):
        _png(root / "ok" / f"n{i}.png", i)
    defects = {"scratch": 3, "dent": 2} if subfolders else {"": 3}
    for defect, n in defects.items():
        for i in range(n):
            _png(root / "ng" / defect / f"a{i}.png", 200)
            _png(root / "masks" / defect / f"a{i}_mask.png", 255, (8, 8))
    return root


PARAMS = {"normal_dir": "ok", "abnormal_dir": "ng", "mask_dir": "masks"}


def test_defect_subfolders_and_seeded_holdout(tmp_path):
    make_folder(tmp_path / "parts")
    t = DATASETS.get("folder")(tmp_path / "parts", PARAMS).load("parts")
    assert t.groupby(["split", "defect_type"]).size().to_dict() == {
        ("test", "dent"): 2, ("test", "good"): 2, ("test", "scratch"): 3, ("train", "good"): 8
    }
    again = DATASETS.get("folder")(tmp_path / "parts", PARAMS).load("parts")
    assert again.equals(t)
    held = lambda seed: set(DATASETS.get("folder")(tmp_path / "parts", {**PARAMS, "seed": seed}).load("parts").query("split == 'test' and label == 0")["image_path"])
    assert any(held(s) != held(0) for s in range(1, 6))


def test_flat_abnormal_dir_and_normal_test_dir(tmp_path):
    make_folder(tmp_path, subfolders=False)
    for i in range(2):
        _png(tmp_path / "ok_test" / f"t{i}.png", 50 + i)
    t = DATASETS.get("folder")(tmp_path, {**PARAMS, "normal_test_dir": "ok_test", "category": "widget"}).load("widget")
    assert t.groupby(["split", "defect_type"]).size().to_dict() == {("test", "good"): 2, ("test", "ng"): 3, ("train", "good"): 10}
    assert set(t["category"]) == {"widget"}


def test_errors(tmp_path):
    make_folder(tmp_path)
    with pytest.raises(DatasetError, match=r"nope: normal_dir folder not found"):
        DATASETS.get("folder")(tmp_path, {**PARAMS, "normal_dir": "nope"}).load(tmp_path.name)
    (tmp_path / "masks" / "dent" / "a1_mask.png").unlink()
    with pytest.raises(DatasetError, match=r"dent/a1.png: no mask found"):
        DATASETS.get("folder")(tmp_path, PARAMS).load(tmp_path.name)
    with pytest.raises(ParamError, match="mask_dir"):
        DATASETS.get("folder")(tmp_path, {"normal_dir": "ok", "abnormal_dir": "ng"})
