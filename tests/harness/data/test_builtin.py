"""The built-in procedural dataset: layout, exact masks, reproducibility, difficulty spread."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from harness.data.builtin import (
    BUILTIN_CATEGORIES,
    PIN_COLOURS,
    Canvas,
    Pushpins,
    ScrewBag,
    defects_config,
    render_sample,
    structural_defect,
    synthesize,
)
from harness.data.table import DatasetError

SMALL = {"train": 3, "validation": 2, "test_good": 2, "per_defect": 2}


def _hashes(root: Path) -> dict[str, str]:
    return {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.rglob("*")) if p.is_file()}


def test_synthesize_is_byte_for_byte_reproducible(tmp_path):
    a = synthesize(tmp_path / "a", image_size=64, seed=3, counts=SMALL)
    synthesize(tmp_path / "b", image_size=64, seed=3, counts=SMALL)
    synthesize(tmp_path / "c", image_size=64, seed=4, counts=SMALL)
    assert a == list(BUILTIN_CATEGORIES)
    ha, hb, hc = _hashes(tmp_path / "a"), _hashes(tmp_path / "b"), _hashes(tmp_path / "c")
    assert len(ha) > 100 and ha == hb
    pngs = [k for k in ha if k.endswith(".png") and "/train/" in k]
    assert sum(ha[k] != hc[k] for k in pngs) == len(pngs), "another seed must draw other images"


def test_loco_layout_and_masks(tmp_path):
    synthesize(tmp_path, categories=["pushpins", "juice_bottle"], image_size=96, seed=0, counts=SMALL)
    for cat in ("pushpins", "juice_bottle"):
        root = tmp_path / cat
        config = json.loads((root / "defects_config.json").read_text())
        assert all(set(d) == {"defect_name", "pixel_value", "saturation_threshold", "relative_saturation"} for d in config)
        values = {d["pixel_value"]: d for d in config}
        assert len(values) == len(config) and all(234 <= v <= 255 for v in values)
        for folder, n in (("train/good", 3), ("validation/good", 2), ("test/good", 2)):
            assert len(list((root / folder).glob("*.png"))) == n
        for kind in ("logical_anomalies", "structural_anomalies"):
            images = sorted((root / "test" / kind).glob("*.png"))
            n_types = sum(1 for d in config if (d["relative_saturation"] is False) == (kind == "logical_anomalies"))
            assert len(images) == 2 * n_types
            for img in images:
                masks = sorted((root / "ground_truth" / kind / img.stem).glob("*.png"))
                assert masks, img
                with Image.open(img) as im:
                    assert im.size == (96, 96) and im.mode == "RGB"
                for m in masks:
                    arr = np.asarray(Image.open(m))
                    assert arr.shape == (96, 96)
                    vals = set(np.unique(arr).tolist())
                    assert 0 in vals and len(vals) == 2, f"{m}: one defect value and background, got {vals}"
                    assert (vals - {0}).pop() in values


def test_structural_defect_mask_is_exactly_the_changed_pixels():
    cv = Canvas(128)
    for seed in range(12):
        rng = np.random.default_rng(seed)
        scene, _ = Pushpins(cv).scene(rng)
        img = scene.render()
        for style in ("scratch", "contamination", "broken_pushpin"):
            region = scene.regions["object" if style == "broken_pushpin" else "any"]
            new, mask = structural_defect(rng, cv, img, style, region)
            changed = np.abs(new - img).max(axis=2) > 0
            assert mask.sum() >= 4
            assert np.array_equal(changed, mask), style


def test_structural_defects_range_from_faint_to_obvious():
    cv = Canvas(128)
    deltas = []
    for seed in range(60):
        rng = np.random.default_rng(seed)
        scene, _ = ScrewBag(cv).scene(rng)
        img = scene.render()
        new, mask = structural_defect(rng, cv, img, "stain", scene.regions["surface"])
        deltas.append(float(np.abs(new - img).max(axis=2)[mask].mean()))
    deltas = np.array(deltas)
    assert (deltas < 0.04).sum() >= 5, f"too few faint defects: {np.sort(deltas)[:8]}"
    assert (deltas > 0.12).sum() >= 5, f"too few obvious defects: {np.sort(deltas)[-8:]}"


def test_logical_anomalies_change_the_count_of_normal_components():
    cv = Canvas(128)
    maker = Pushpins(cv)
    for seed in range(5):
        normal, masks = maker.scene(np.random.default_rng(seed))
        assert len(normal.components) == 15 and masks == []  # 15 pins in 18 compartments
        missing, masks = maker.scene(np.random.default_rng(seed), logical="missing_pushpin")
        assert len(missing.components) == 15 - len(masks) and 1 <= len(masks) <= 2
        extra, masks = maker.scene(np.random.default_rng(seed), logical="additional_pushpin")
        assert len(extra.components) == 16 and len(masks) == 1 and masks[0].sum() > 20
    screws = ScrewBag(cv)
    for logical in ("screw_too_long", "screw_too_short", "additional_part"):
        scene, masks = screws.scene(np.random.default_rng(1), logical=logical)
        assert len(masks) == 1 and masks[0].any()
        assert len(scene.components) == (7 if logical == "additional_part" else 6)


def test_wrong_colour_pin_is_a_normal_pin_colour():
    """Logical anomalies look locally normal: the odd pin has a colour other images use."""
    palette = np.array(list(PIN_COLOURS.values()))
    for seed in range(5):
        scene, masks = Pushpins(Canvas(128)).scene(np.random.default_rng(seed), logical="wrong_colour_pushpin")
        heads = np.array([c.layers[2].colour for c in scene.components])
        nearest = np.abs(heads[:, None, :] - palette[None]).max(axis=2).argmin(axis=1)
        assert np.abs(heads - palette[nearest]).max() <= 0.03  # every pin is a palette pin
        values, counts = np.unique(nearest, return_counts=True)
        assert sorted(counts.tolist()) == [1, 14]
        odd = int(np.flatnonzero(nearest == values[counts.argmin()])[0])
        assert np.array_equal(masks[0], scene.components[odd].footprint(128))


def test_render_sample_returns_named_defects():
    img, defects = render_sample("pushpins", "logical_anomalies", 0, seed=0, defect="wrong_colour_pushpin")
    assert img.shape == (128, 128, 3) and img.dtype == np.uint8
    assert [name for name, _ in defects] == ["wrong_colour_pushpin"]
    _, none = render_sample("pushpins", "train", 0, seed=0)
    assert none == []


def test_defects_config_thresholds_scale_with_size():
    small = {d["defect_name"]: d for d in defects_config("tiles", 64)}
    big = {d["defect_name"]: d for d in defects_config("tiles", 128)}
    assert big["wrong_colour_tile"]["saturation_threshold"] == 4 * small["wrong_colour_tile"]["saturation_threshold"]
    assert big["crack"] == small["crack"] and big["crack"]["relative_saturation"] is True


def test_errors_write_nothing(tmp_path):
    with pytest.raises(DatasetError, match="unknown builtin categories"):
        synthesize(tmp_path / "x", categories=["nope"])
    assert not (tmp_path / "x").exists()
    synthesize(tmp_path / "y", categories=["tiles"], image_size=48, counts=SMALL)
    before = _hashes(tmp_path / "y")
    with pytest.raises(DatasetError, match="already exists"):
        synthesize(tmp_path / "y", categories=["tiles"], image_size=48, seed=5, counts=SMALL)
    assert _hashes(tmp_path / "y") == before
    assert [p.name for p in (tmp_path / "y").iterdir()] == ["tiles"], "no temporary folder left behind"


def test_tiles_accent_count_is_the_only_rule():
    """Normal: exactly 3 accent tiles; logical anomalies change the count or add a third colour."""
    from harness.data.builtin import Tiles

    maker = Tiles(Canvas(128))
    for seed in range(4):
        normal, masks = maker.scene(np.random.default_rng(seed))
        colours = [c.meta["colour"] for c in normal.components]
        counts = sorted(colours.count(k) for k in set(colours))
        assert counts == [3, 13] and masks == []
        for logical, expected in (("extra_accent_tile", [4, 12]), ("missing_accent_tile", [2, 14]), ("wrong_colour_tile", [1, 3, 12])):
            scene, masks = maker.scene(np.random.default_rng(seed), logical=logical)
            colours = [c.meta["colour"] for c in scene.components]
            assert sorted(colours.count(k) for k in set(colours)) == expected, logical
            (mask,) = masks
            changed = [i for i, c in enumerate(scene.components) if np.array_equal(mask, c.footprint(128))]
            assert len(changed) == 1
