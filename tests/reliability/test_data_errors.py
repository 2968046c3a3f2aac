"""Bad data on disk: refused before anything runs, one line naming the file and the fix; nothing written."""

from __future__ import annotations

import logging
import os

import numpy as np
import pytest
from PIL import Image

from harness.config import validate_spec
from harness.core.io import load_image, load_mask
from harness.data.table import DatasetError
from reliability_kit import case, defect_pair, draw, make_folder_dataset, save, snapshot, spec_dict, write_spec


def refused(bench, tmp_path, data):
    spec = write_spec(tmp_path / "s.yaml", spec_dict(tmp_path, data))
    ran = bench(spec)
    assert ran.code == 2, ran.out + ran.err
    assert snapshot(tmp_path / "out") == {}  # no run folder, no mlflow.db, no spec.json
    return ran.error_line


def test_dataset_root_missing(bench, tmp_path):
    line = refused(bench, tmp_path, tmp_path / "no-data")
    case("G8").check(line)
    assert str(tmp_path / "no-data") in line


def test_data_not_laid_out_as_expected(bench, tmp_path, data):
    os.rename(data / "masks", data / "gt")
    line = refused(bench, tmp_path, data)
    case("G9").check(line)
    assert str(data / "masks") in line


def test_zero_byte_image(bench, tmp_path, data):
    bad = data / "normal" / "003.png"
    bad.write_bytes(b"")
    line = refused(bench, tmp_path, data)
    case("G10").check(line)
    assert str(bad) in line


def test_corrupt_header(bench, tmp_path, data):
    bad = data / "abnormal" / "dent" / "001.png"
    bad.write_bytes(b"\x89PNG\r\n\x1a\nthis is no png")
    line = refused(bench, tmp_path, data)
    case("G11").check(line)
    assert str(bad) in line


def test_mask_size_mismatch(bench, tmp_path, data):
    bad = data / "masks" / "scratch" / "002.png"
    save(np.full((16, 16), 255, np.uint8), bad)
    line = refused(bench, tmp_path, data)
    case("G12").check(line)
    assert str(bad) in line


def test_unknown_category(bench, tmp_path, data):
    d = spec_dict(tmp_path, data)
    d["datasets"][0]["categories"] = ["pushpins"]
    ran = bench(write_spec(tmp_path / "s.yaml", d))
    assert ran.code == 2 and snapshot(tmp_path / "out") == {}
    case("G23").check(ran.error_line)


def test_anomalous_image_without_mask(bench, tmp_path, data):
    os.remove(data / "masks" / "dent" / "002.png")
    line = refused(bench, tmp_path, data)
    case("G24").check(line)
    assert str(data / "abnormal" / "dent" / "002.png") in line


# --- B1: image modes ----------------------------------------------------------------------------

def test_16bit_gray_is_scaled_not_clipped(tmp_path):
    level = np.array([[0, 1000, 32768, 65535]], np.uint16).repeat(4, axis=0)
    path = tmp_path / "cam16.png"
    Image.fromarray(level).save(path)
    assert Image.open(path).mode == "I;16"
    img = load_image(path)
    assert img.dtype == np.uint8 and img.shape == (4, 4, 3)
    assert img[0, :, 0].tolist() == [0, 4, 128, 255]  # 65535 → 255, by value range
    assert img.mean() < 120  # was 255.0 (all white) before issue 14
    case("B1")


def test_16bit_mask_keeps_small_values(tmp_path):
    m = np.zeros((8, 8), np.uint16)
    m[2:4, 2:4] = 1
    Image.fromarray(m).save(tmp_path / "m.png")
    assert load_mask([tmp_path / "m.png"]).sum() == 4


@pytest.mark.parametrize("mode", ["L", "RGB", "RGBA", "P", "LA"])
def test_8bit_modes_agree_with_rgb(tmp_path, mode):
    rgb = draw(3, 16)
    save(rgb, tmp_path / "x.png", mode)
    expected = np.asarray(Image.fromarray(rgb).convert(mode).convert("RGB"))
    assert np.array_equal(load_image(tmp_path / "x.png"), expected)


def test_unreadable_mode_is_refused_before_running(bench, tmp_path, data):
    bad = data / "normal" / "002.tif"
    Image.fromarray(np.full((32, 32), 70000, np.int32), "I").save(bad)  # 32-bit values outside the 16-bit range
    line = refused(bench, tmp_path, data)
    case("B1").check(line)
    assert str(bad) in line


# --- B3: truncated files --------------------------------------------------------------------------

@pytest.mark.parametrize("where", ["normal/004.png", "abnormal/scratch/002.png", "masks/dent/000.png"])
def test_truncated_file_is_reported_before_anything_runs(bench, tmp_path, where):
    data = tmp_path / "data"
    make_folder_dataset(data)
    big = np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)  # noise: a long IDAT
    bad = data / where
    if "masks" not in where:
        save(big, bad)
    raw = bad.read_bytes()
    bad.write_bytes(raw[: max(60, len(raw) // 3)])  # header intact, pixel data cut
    with Image.open(bad) as img:
        img.size  # the header check still passes
    line = refused(bench, tmp_path, data)
    case("B3").check(line)
    assert str(bad) in line


# --- B4: empty masks ------------------------------------------------------------------------------

def test_empty_mask_is_refused(bench, tmp_path, data):
    empty = data / "masks" / "scratch" / "001.png"
    save(np.zeros((32, 32), np.uint8), empty)
    line = refused(bench, tmp_path, data)
    case("B4a").check(line)
    assert str(empty) in line and str(data / "abnormal" / "scratch" / "001.png") in line


def test_empty_mask_dropped_on_request_with_a_count(tmp_path, data, caplog, registered):
    from harness.pipeline import load_tables

    save(np.zeros((32, 32), np.uint8), data / "masks" / "scratch" / "001.png")
    d = spec_dict(tmp_path, data)
    d["datasets"][0]["empty_masks"] = "drop"
    with caplog.at_level(logging.WARNING, logger="harness.data"):
        (sl,) = load_tables(validate_spec(d))
    assert str(data / "abnormal" / "scratch" / "001.png") not in set(sl.table["image_path"])
    assert (sl.table["label"] == 1).sum() == 5
    case("B4b").check(caplog.text)
    assert snapshot(tmp_path / "out") == {}


# --- B10 ------------------------------------------------------------------------------------------

def test_defect_type_with_one_image_leaves_nothing(bench, tmp_path):
    data = make_folder_dataset(tmp_path / "data", defects={"scratch": 3, "dent": 1})
    line = refused(bench, tmp_path, data)
    case("B10a").check(line)
    assert str(data / "abnormal" / "dent" / "000.png") in line


def test_dataset_root_is_a_file(bench, tmp_path):
    f = tmp_path / "data.zip"
    f.write_bytes(b"PK")
    line = refused(bench, tmp_path, f)
    case("B10b").check(line)
    assert str(f) in line


def test_loader_errors_are_dataset_errors(tmp_path):
    """What the CLI prints as one line is a DatasetError, never an OSError traceback."""
    img, _ = defect_pair(1)
    save(img, tmp_path / "ok.png")
    raw = (tmp_path / "ok.png").read_bytes()
    (tmp_path / "cut.png").write_bytes(raw[:70])
    with pytest.raises(DatasetError, match="cut.png"):
        load_image(tmp_path / "cut.png")
