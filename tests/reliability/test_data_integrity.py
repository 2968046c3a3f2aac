"""Data that lies (issue 30): non-binary and lossy masks, duplicates across train/test or good/defect,
EXIF-turned files, images too large to decode, images far off the category's size."""

from __future__ import annotations

import logging
import shutil

import numpy as np
from PIL import Image

from harness.config import validate_spec
from harness.core.io import load_mask
from reliability_kit import case, draw, save, snapshot, spec_dict, write_spec


def refused(bench, tmp_path, data, **dataset):
    d = spec_dict(tmp_path, data)
    d["datasets"][0].update(dataset)
    ran = bench(write_spec(tmp_path / "s.yaml", d))
    assert ran.code == 2, ran.out + ran.err
    assert snapshot(tmp_path / "out") == {}
    return ran.error_line


def tables(tmp_path, data, caplog, **dataset):
    from harness.pipeline import load_tables

    d = spec_dict(tmp_path, data)
    d["datasets"][0].update(dataset)
    with caplog.at_level(logging.WARNING, logger="harness.data"):
        (sl,) = load_tables(validate_spec(d))
    return sl.table


def soften(mask_path):
    """An anti-aliased export: background 1, a soft edge of 128 around the defect."""
    m = np.asarray(Image.open(mask_path)).copy()
    edge = np.zeros_like(m, bool)
    edge[1:-1, 1:-1] = (m[:-2, 1:-1] > 0) | (m[2:, 1:-1] > 0)
    m = np.where(m > 0, 255, np.where(edge, 128, 1)).astype(np.uint8)
    Image.fromarray(m).save(mask_path)


def test_soft_mask_is_refused(bench, tmp_path, data):
    bad = data / "masks" / "scratch" / "001.png"
    soften(bad)
    line = refused(bench, tmp_path, data)
    case("B13a").check(line)
    assert str(bad) in line


def test_soft_mask_with_threshold_is_binarised_and_counted(tmp_path, data, registered, caplog):
    bad = data / "masks" / "scratch" / "001.png"
    true_area = int((np.asarray(Image.open(bad)) > 0).sum())
    soften(bad)
    table = tables(tmp_path, data, caplog, mask_threshold=200)
    case("B13b").check(caplog.text)
    (row,) = [r for r in table.itertuples() if r.image_path.endswith("scratch/001.png")]
    assert load_mask(row.mask_paths).sum() == true_area  # not the whole image, as `> 0` made it


def test_jpeg_mask_is_refused_as_lossy(bench, tmp_path, data):
    png = data / "masks" / "dent" / "000.png"
    jpg = png.with_suffix(".jpg")
    Image.open(png).convert("L").save(jpg, quality=75)
    png.unlink()
    line = refused(bench, tmp_path, data)
    case("B13c").check(line)
    assert str(jpg) in line


def test_test_good_duplicating_train_good_is_refused(bench, tmp_path, data):
    params = {"normal_dir": "normal", "abnormal_dir": "abnormal", "mask_dir": "masks", "normal_test_dir": "normal_test"}
    for i in (0, 1):
        save(draw(50 + i), data / "normal_test" / f"t{i}.png")
    shutil.copy(data / "normal" / "003.png", data / "normal_test" / "copy.png")
    line = refused(bench, tmp_path, data, params=params)
    case("B14a").check(line)
    assert str(data / "normal" / "003.png") in line and str(data / "normal_test" / "copy.png") in line


def test_defect_image_filed_as_good_is_refused_or_dropped(bench, tmp_path, data, caplog):
    shutil.copy(data / "abnormal" / "dent" / "001.png", data / "normal" / "100.png")
    line = refused(bench, tmp_path, data)
    case("B14b").check(line)
    assert str(data / "normal" / "100.png") in line
    table = tables(tmp_path, data, caplog, duplicates="drop")
    case("B14c").check(caplog.text)
    assert str(data / "normal" / "100.png") not in set(table["image_path"])
    assert str(data / "abnormal" / "dent" / "001.png") in set(table["image_path"])


def test_resized_copy_is_found_by_its_perceptual_hash(bench, tmp_path, data):
    big = Image.open(data / "abnormal" / "scratch" / "000.png").resize((64, 64), Image.BICUBIC)
    big.save(data / "normal" / "100.png")
    line = refused(bench, tmp_path, data)
    case("B14d").check(line)
    assert str(data / "normal" / "100.png") in line


def test_exif_orientation_applies_to_images_and_masks(tmp_path, data, registered, caplog):
    """A camera image stored 48x32 and tagged "rotate 90°" shows 32x48, like its mask."""
    img = Image.fromarray(np.full((48, 32, 3), 120, np.uint8))  # what the viewer shows: 32 wide, 48 high
    mask = np.zeros((48, 32), np.uint8)
    mask[4:12, 4:12] = 255
    stored = img.transpose(Image.Transpose.ROTATE_90)  # 48 wide, 32 high on disk
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise to display
    stored.save(data / "abnormal" / "dent" / "009.png", exif=exif)
    Image.fromarray(mask).save(data / "masks" / "dent" / "009.png")
    table = tables(tmp_path, data, caplog)
    case("B15")
    (row,) = [r for r in table.itertuples() if r.image_path.endswith("dent/009.png")]
    assert load_mask(row.mask_paths, like=row.image_path).shape == (48, 32)


def test_decompression_bomb_is_one_line(bench, tmp_path, data, monkeypatch):
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 300)  # 32x32 images are over twice the limit
    line = refused(bench, tmp_path, data)
    case("B16").check(line)


def test_image_far_off_the_category_size_is_flagged(tmp_path, data, registered, caplog):
    save(draw(7, 256), data / "normal" / "big.png")
    tables(tmp_path, data, caplog)
    case("B17").check(caplog.text)
    assert str(data / "normal" / "big.png") in caplog.text
