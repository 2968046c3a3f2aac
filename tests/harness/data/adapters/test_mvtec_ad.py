"""The MVTec AD adapter: tiny trees in both mask namings, errors, and the shared real sets."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.core.io import load_image, load_mask
from harness.data.split import few_shot_split
from harness.data.table import DatasetError
from harness.core import DATASETS


def _png(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


def make_mvtec(root: Path, *, suffix: str = "_mask", ext: str = ".png") -> Path:
    cat = root / "bottle"
    img = np.full((12, 12, 3), 90, np.uint8)
    mask = np.zeros((12, 12), np.uint8)
    mask[3:7, 3:7] = 255
    for folder, n in (("train/good", 3), ("test/good", 2)):
        for i in range(n):
            _png(cat / folder / f"{i:03d}{ext}", img)
    for defect, n in (("crack", 3), ("broken_large", 2)):
        for i in range(n):
            _png(cat / "test" / defect / f"{i:03d}{ext}", img)
            _png(cat / "ground_truth" / defect / f"{i:03d}{suffix}.png", mask)
    return root


@pytest.mark.parametrize("suffix,ext", [("_mask", ".png"), ("", ".png"), ("", ".jpg")])
def test_table_both_mask_namings(tmp_path, suffix, ext):
    adapter = DATASETS.get("mvtec_ad")(make_mvtec(tmp_path, suffix=suffix, ext=ext))
    assert adapter.categories() == ["bottle"]
    t = adapter.load("bottle")
    assert t.groupby(["split", "defect_type"]).size().to_dict() == {
        ("test", "broken_large"): 2, ("test", "crack"): 3, ("test", "good"): 2, ("train", "good"): 3
    }
    for r in t[t["label"] == 1].itertuples():
        (m,) = r.mask_paths
        assert Path(m).name == f"{Path(r.image_path).stem}{suffix}.png"
        assert Path(m).parent.name == r.defect_type
        assert r.mask_saturation == [(1.0, True)]
    assert (t.loc[t["label"] == 0, "mask_paths"].map(len) == 0).all()


def test_pairs_by_exact_stem_and_names_the_image_without_mask(tmp_path):
    make_mvtec(tmp_path)
    (tmp_path / "bottle/ground_truth/crack/001_mask.png").unlink()
    # a mask whose name merely contains the stem must not be taken for it
    shutil.copyfile(tmp_path / "bottle/ground_truth/crack/000_mask.png", tmp_path / "bottle/ground_truth/crack/0011_mask.png")
    with pytest.raises(DatasetError, match=r"crack/001.png: no mask found; expected .*001_mask.png"):
        DATASETS.get("mvtec_ad")(tmp_path).load("bottle")


def test_layout_errors(tmp_path):
    with pytest.raises(DatasetError, match="dataset root not found; mvtec_ad expects"):
        DATASETS.get("mvtec_ad")(tmp_path / "none").categories()
    (tmp_path / "empty").mkdir()
    with pytest.raises(DatasetError, match="no category folders"):
        DATASETS.get("mvtec_ad")(tmp_path / "empty").categories()
    make_mvtec(tmp_path / "d")
    _png(tmp_path / "d/bottle/ground_truth/crack/002_mask.png", np.zeros((10, 12), np.uint8))
    with pytest.raises(DatasetError, match=r"002_mask.png: mask is 12x10 but its image .* is 12x12"):
        DATASETS.get("mvtec_ad")(tmp_path / "d").load("bottle")


@pytest.mark.parametrize("name,what", [("mvtec_ad", "MVTec AD"), ("mvtec_loco", "MVTec LOCO AD"), ("visa", "VisA")])
def test_download_offline_gives_layout(tmp_path, monkeypatch, name, what):
    """download=true goes through anomalib's downloader (real import paths); offline → clear error."""
    import anomalib.data.utils as autils

    calls = []

    def offline(root, info):
        calls.append(info.url)
        raise OSError("network unreachable")

    monkeypatch.setattr(autils, "download_and_extract", offline)
    with pytest.raises(DatasetError, match=f"{what} download failed.*without internet.*expects|{what} download failed.*so that"):
        DATASETS.get(name)(tmp_path / "data", {"download": True}).categories()
    assert len(calls) == 1 and calls[0].startswith("https://")


def _shared_data() -> Path | None:
    here = Path(__file__).resolve()
    for cand in (here.parents[4] / ".." / "shared" / "data", Path("/work/shared/data")):
        if (cand / "hazelnut_toy_otx").is_dir() and (cand / "battery_weld").is_dir():
            return cand.resolve()
    return None


@pytest.mark.skipif(_shared_data() is None, reason="shared real datasets (../shared/data or /work/shared/data) not present")
@pytest.mark.parametrize(
    "folder,category,counts",
    [
        ("hazelnut_toy_otx", "hazelnut", {("train", "good"): 28, ("test", "good"): 6, ("test", "colour"): 17}),
        ("battery_weld", "welding", {("train", "good"): 37, ("test", "good"): 35, ("test", "defective"): 93}),
    ],
)
def test_loads_the_shared_real_datasets(folder, category, counts):
    t = DATASETS.get("mvtec_ad")(_shared_data() / folder).load(category)
    assert t.groupby(["split", "defect_type"]).size().to_dict() == counts
    anomalous = t[t["label"] == 1].iloc[0]
    mask = load_mask(anomalous.mask_paths, size=64, like=anomalous.image_path)
    assert load_image(anomalous.image_path, 64).shape == (64, 64, 3) and mask.any()
    split = few_shot_split(t, seed=0)
    assert set(split["role"]) == {"detector_train", "generator_train", "test"}


@pytest.mark.parametrize("suffix", ["_mask", ""])
def test_pairing_agrees_with_anomalib_parser(tmp_path, suffix):
    """Reference check: on PNG trees, the same rows and pairs as anomalib's make_mvtec_ad_dataset."""
    import warnings

    import pandas as pd
    from anomalib.data.datasets.image.mvtecad import make_mvtec_ad_dataset

    make_mvtec(tmp_path, suffix=suffix)
    ours = DATASETS.get("mvtec_ad")(tmp_path).load("bottle")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the option itself is deprecated in pandas 3
        with pd.option_context("future.infer_string", False):
            ref = make_mvtec_ad_dataset(tmp_path / "bottle")
    ref_pairs = {(str(Path(r.image_path).resolve()), str(Path(r.mask_path).resolve()) if r.mask_path else None, r.label_index) for r in ref.itertuples()}
    our_pairs = {(r.image_path, r.mask_paths[0] if r.mask_paths else None, r.label) for r in ours.itertuples()}
    assert our_pairs == ref_pairs
