"""The `builtin` adapter: synthesize-once cache, read back as a LOCO table."""

from __future__ import annotations

import pytest

import harness.data.builtin as builtin
from harness.data.split import few_shot_split
from harness.data.table import DatasetError
from harness.core import DATASETS

SMALL = {"train": 3, "validation": 2, "test_good": 2, "per_defect": 3}


@pytest.fixture
def small_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("BENCH_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setattr(builtin, "DEFAULT_COUNTS", SMALL)
    return tmp_path / "cache"


def test_synthesizes_once_into_the_cache(small_cache):
    adapter = DATASETS.get("builtin")(None, {"seed": 2}, image_size=64)
    assert adapter.categories() == list(builtin.BUILTIN_CATEGORIES)
    table = adapter.load("pushpins")
    target = small_cache / f"builtin-v{builtin.BUILTIN_VERSION}-64px-seed2"
    assert sorted(p.name for p in small_cache.iterdir()) == [target.name], "no temporary folder left"
    assert all(p.startswith(str(target)) for p in table["image_path"])
    assert table.groupby("split").size().to_dict() == {"test": 2 + 3 * 6, "train": 3, "validation": 2}
    assert set(table["anomaly_kind"]) == {"", "logical", "structural"}
    assert set(table.loc[table["label"] == 1, "defect_type"]) == {
        "missing_pushpin", "additional_pushpin", "wrong_colour_pushpin", "scratch", "contamination", "broken_pushpin"
    }
    stamp = (target / "pushpins" / "train" / "good" / "000.png").stat().st_mtime_ns
    again = DATASETS.get("builtin")(None, {"seed": 2}, image_size=64).load("pushpins")
    assert again.equals(table)
    assert (target / "pushpins" / "train" / "good" / "000.png").stat().st_mtime_ns == stamp, "cache was redrawn"
    split = few_shot_split(table, seed=0)
    assert (split.groupby(["role", "defect_type"]).size().loc["generator_train"] == 1).all()


def test_draws_only_the_category_loaded_and_the_same_bytes_as_drawn_with_the_others(small_cache, tmp_path):
    DATASETS.get("builtin")(None, {"seed": 2}, image_size=48).load("tiles")
    target = small_cache / f"builtin-v{builtin.BUILTIN_VERSION}-48px-seed2"
    assert sorted(p.name for p in target.iterdir()) == ["tiles"], "other categories drawn, or a temporary folder left"
    builtin.synthesize(tmp_path / "all", image_size=48, seed=2)
    alone = sorted(p.relative_to(target) for p in (target / "tiles").rglob("*") if p.is_file())
    assert alone == sorted(p.relative_to(tmp_path / "all") for p in (tmp_path / "all" / "tiles").rglob("*") if p.is_file())
    assert all((target / f).read_bytes() == (tmp_path / "all" / f).read_bytes() for f in alone)
    DATASETS.get("builtin")(None, {"seed": 2}, image_size=48).load("pushpins")
    assert sorted(p.name for p in target.iterdir()) == ["pushpins", "tiles"]


def test_reads_a_synthesized_root(tmp_path, monkeypatch):
    builtin.synthesize(tmp_path / "d", categories=["tiles"], image_size=48, counts=SMALL)
    adapter = DATASETS.get("builtin")(tmp_path / "d", image_size=48)
    assert adapter.categories() == ["tiles"]
    assert len(adapter.load("tiles")) == 3 + 2 + 2 + 3 * 6
    with pytest.raises(DatasetError, match="category not found"):
        adapter.load("pushpins")
    with pytest.raises(DatasetError, match="unknown builtin category"):
        DATASETS.get("builtin")(None).load("bottles")


def test_unwritable_cache_is_a_clear_error(tmp_path, monkeypatch):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("BENCH_DATA_DIR", str(blocker / "cache"))
    with pytest.raises(DatasetError, match="cannot write the builtin dataset cache.*BENCH_DATA_DIR"):
        DATASETS.get("builtin")(None).load("tiles")
