"""The MVTec LOCO adapter on tiny trees written here: multi-mask rows, defects_config, errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.table import DatasetError
from harness.core import DATASETS

CONFIG = [
    {"defect_name": "missing_pin", "pixel_value": 255, "saturation_threshold": 300, "relative_saturation": False},
    {"defect_name": "extra_pin", "pixel_value": 254, "saturation_threshold": 250, "relative_saturation": False},
    {"defect_name": "scratch", "pixel_value": 253, "saturation_threshold": 1.0, "relative_saturation": True},
]


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def _mask(value: int, size: int = 16) -> np.ndarray:
    m = np.zeros((size, size), np.uint8)
    m[2:6, 3:9] = value
    return m


def make_loco(root: Path, category: str = "pins") -> Path:
    cat = root / category
    img = np.full((16, 16, 3), 120, np.uint8)
    for folder, n in (("train/good", 3), ("validation/good", 2), ("test/good", 2)):
        for i in range(n):
            _png(cat / folder / f"{i:03d}.png", img)
    # logical 000: two defects (missing + extra) → two masks, defect type from the first
    _png(cat / "test/logical_anomalies/000.png", img)
    _png(cat / "ground_truth/logical_anomalies/000/000.png", _mask(255))
    _png(cat / "ground_truth/logical_anomalies/000/001.png", _mask(254))
    _png(cat / "test/logical_anomalies/001.png", img)
    _png(cat / "ground_truth/logical_anomalies/001/000.png", _mask(254))
    _png(cat / "test/structural_anomalies/000.png", img)
    _png(cat / "ground_truth/structural_anomalies/000/000.png", _mask(253))
    (cat / "defects_config.json").write_text(json.dumps(CONFIG))
    return root


def test_table_with_multi_masks_and_saturation(tmp_path):
    adapter = DATASETS.get("mvtec_loco")(make_loco(tmp_path))
    assert adapter.categories() == ["pins"]
    t = adapter.load("pins")
    assert len(t) == 10
    assert t.groupby("split").size().to_dict() == {"test": 5, "train": 3, "validation": 2}
    two = t[t["image_path"].str.endswith("logical_anomalies/000.png")].iloc[0]
    assert [Path(p).name for p in two.mask_paths] == ["000.png", "001.png"]
    assert two.mask_saturation == [(300.0, False), (250.0, False)]
    assert two.defect_type == "missing_pin" and two.anomaly_kind == "logical" and two.label == 1
    one = t[t["image_path"].str.endswith("logical_anomalies/001.png")].iloc[0]
    assert one.defect_type == "extra_pin" and one.mask_saturation == [(250.0, False)]
    s = t[t["anomaly_kind"] == "structural"].iloc[0]
    assert s.defect_type == "scratch" and s.mask_saturation == [(1.0, True)]
    good = t[t["label"] == 0]
    assert (good["defect_type"] == "good").all() and (good["mask_paths"].map(len) == 0).all()
    assert all(Path(p).is_absolute() for p in t["image_path"])


def test_missing_root_and_folder(tmp_path):
    with pytest.raises(DatasetError, match="dataset root not found.*MVTec LOCO"):
        DATASETS.get("mvtec_loco")(tmp_path / "nope").categories()
    make_loco(tmp_path)
    with pytest.raises(DatasetError, match="category not found"):
        DATASETS.get("mvtec_loco")(tmp_path).load("bottles")
    import shutil

    shutil.rmtree(tmp_path / "pins" / "test")
    with pytest.raises(DatasetError, match=r"pins/test: folder not found"):
        DATASETS.get("mvtec_loco")(tmp_path).load("pins")


def test_mask_size_mismatch(tmp_path):
    make_loco(tmp_path)
    _png(tmp_path / "pins/ground_truth/structural_anomalies/000/000.png", _mask(253, size=20))
    with pytest.raises(DatasetError, match=r"000/000.png: mask is 20x20 but its image .* is 16x16"):
        DATASETS.get("mvtec_loco")(tmp_path).load("pins")


def test_unreadable_image(tmp_path):
    make_loco(tmp_path)
    (tmp_path / "pins/train/good/001.png").write_bytes(b"not a png")
    with pytest.raises(DatasetError, match=r"train/good/001.png: unreadable image"):
        DATASETS.get("mvtec_loco")(tmp_path).load("pins")


def test_anomaly_without_masks(tmp_path):
    make_loco(tmp_path)
    for m in (tmp_path / "pins/ground_truth/logical_anomalies/001").iterdir():
        m.unlink()
    with pytest.raises(DatasetError, match=r"001.png: no masks in .*ground_truth/logical_anomalies/001"):
        DATASETS.get("mvtec_loco")(tmp_path).load("pins")


def test_unknown_pixel_value_and_bad_config(tmp_path):
    make_loco(tmp_path)
    _png(tmp_path / "pins/ground_truth/structural_anomalies/000/000.png", _mask(240))
    with pytest.raises(DatasetError, match="pixel value 240 is not in"):
        DATASETS.get("mvtec_loco")(tmp_path).load("pins")
    (tmp_path / "pins/defects_config.json").write_text('[{"defect_name": "x"}]')
    with pytest.raises(DatasetError, match="malformed defects_config.json"):
        DATASETS.get("mvtec_loco")(tmp_path).load("pins")


def test_unknown_param_rejected(tmp_path):
    from harness.core import ParamError

    with pytest.raises(ParamError, match="downlaod"):
        DATASETS.get("mvtec_loco")(tmp_path, {"downlaod": True})


def test_pairing_agrees_with_anomalib_parser(tmp_path):
    """Reference check: same image → mask-list pairing as anomalib's own LOCO parser."""
    from anomalib.data.datasets.image.mvtec_loco import make_dataset

    from harness.data.builtin import synthesize

    synthesize(tmp_path, categories=["screw_bag"], image_size=48, counts={"train": 2, "validation": 1, "test_good": 2, "per_defect": 3})
    ours = DATASETS.get("mvtec_loco")(tmp_path).load("screw_bag")
    import warnings

    import pandas as pd

    # anomalib 2.7's parser writes lists into a str column, which pandas 3's default string
    # dtype rejects (TypeError): run it with the pre-3.0 object dtype
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the option itself is deprecated in pandas 3
        with pd.option_context("future.infer_string", False):
            ref = make_dataset(tmp_path / "screw_bag")
    ref_pairs = {
        str(Path(r.image_path).resolve()): sorted(str(Path(m).resolve()) for m in (r.mask_path or []))
        for r in ref.itertuples()
    }
    our_pairs = {r.image_path: sorted(r.mask_paths) for r in ours.itertuples()}
    assert our_pairs == ref_pairs
    assert any(len(m) == 2 for m in our_pairs.values()), "fixture should include a two-mask image"
