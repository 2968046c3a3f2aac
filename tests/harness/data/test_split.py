"""The few-shot split: roles, seeded fractions, and no test image ever reaching a generator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.core.io import file_sha256
from harness.data.split import few_shot_split, read_split, rows_for, write_split
from harness.data.table import DatasetError


def _table(root: Path, per_type: dict[str, int], *, n_train: int = 4, n_val: int = 2, n_test_good: int = 3) -> pd.DataFrame:
    """Distinct tiny PNGs (each file's bytes differ) in a sample table."""
    rows, k = [], 0

    def png(name: str) -> str:
        nonlocal k
        k += 1
        p = root / name
        p.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.full((4, 4, 3), k % 256, np.uint8) + np.uint8(k // 256)).save(p)
        return str(p)

    for split, n in (("train", n_train), ("validation", n_val), ("test", n_test_good)):
        for i in range(n):
            rows.append(dict(image_path=png(f"{split}/good/{i}.png"), mask_paths=[], mask_saturation=[], label=0,
                             defect_type="good", anomaly_kind="", split=split, category="cat"))
    for defect, n in per_type.items():
        for i in range(n):
            rows.append(dict(image_path=png(f"test/{defect}/{i}.png"), mask_paths=[png(f"gt/{defect}/{i}.png")],
                             mask_saturation=[(1.0, True)], label=1, defect_type=defect, anomaly_kind="structural",
                             split="test", category="cat"))
    return pd.DataFrame(rows)


def test_roles_and_counts(tmp_path):
    table = _table(tmp_path, {"scratch": 30, "dent": 9, "hole": 2})
    split = few_shot_split(table, seed=0)
    counts = split.groupby(["role", "defect_type"]).size().to_dict()
    assert counts[("detector_train", "good")] == 4
    assert counts[("validation", "good")] == 2
    assert counts[("test", "good")] == 3
    assert counts[("generator_train", "scratch")] == 10 and counts[("test", "scratch")] == 20
    assert counts[("generator_train", "dent")] == 3 and counts[("test", "dent")] == 6
    # two images: one each side (never the same image on both, unlike AnomalyDiffusion's code)
    assert counts[("generator_train", "hole")] == 1 and counts[("test", "hole")] == 1
    assert len(split) == len(table) and split["role"].notna().all()


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 123])
def test_generator_train_and_test_are_disjoint_by_file_hash(tmp_path, seed):
    table = _table(tmp_path, {"scratch": 12, "dent": 5, "hole": 3})
    split = few_shot_split(table, seed=seed)
    gen = {file_sha256(p) for p in rows_for(split, "generator_train")["image_path"]}
    test = {file_sha256(p) for p in rows_for(split, "test")["image_path"]}
    train = {file_sha256(p) for p in rows_for(split, "detector_train")["image_path"]}
    assert gen and test and not (gen & test) and not (gen & train)


def test_duplicate_files_stay_on_one_side(tmp_path):
    table = _table(tmp_path, {"scratch": 6})
    anomalies = table.index[table["label"] == 1]
    # make three anomalous files byte-identical copies of the first
    for i in anomalies[1:4]:
        shutil.copyfile(table.at[anomalies[0], "image_path"], table.at[i, "image_path"])
    for seed in range(10):
        split = few_shot_split(table, seed=seed)
        roles = set(split.loc[anomalies[:4], "role"])
        assert len(roles) == 1, f"seed {seed}: duplicates straddle the split"
        gen = {file_sha256(p) for p in rows_for(split, "generator_train")["image_path"]}
        test = {file_sha256(p) for p in rows_for(split, "test")["image_path"]}
        assert not (gen & test)


def test_seeded_and_order_independent(tmp_path):
    table = _table(tmp_path, {"scratch": 15, "dent": 6})
    a = few_shot_split(table, seed=5)
    b = few_shot_split(table.sample(frac=1.0, random_state=0), seed=5)
    pick = lambda t: sorted(t.loc[t["role"] == "generator_train", "image_path"])
    assert pick(a) == pick(b)
    assert any(pick(few_shot_split(table, seed=s)) != pick(a) for s in range(6, 10))


def test_errors(tmp_path):
    table = _table(tmp_path, {"scratch": 5, "lonely": 1})
    with pytest.raises(DatasetError, match="'lonely' has 1 distinct"):
        few_shot_split(table, seed=0)
    with pytest.raises(DatasetError, match="out of range"):
        few_shot_split(table, fraction=1.0, seed=0)
    no_train = _table(tmp_path / "b", {"scratch": 5}, n_train=0)
    with pytest.raises(DatasetError, match="'detector_train' empty"):
        few_shot_split(no_train, seed=0)
    with pytest.raises(ValueError, match="unknown role"):
        rows_for(few_shot_split(_table(tmp_path / "c", {"scratch": 3}), seed=0), "train")


def test_write_and_read_split(tmp_path):
    table = _table(tmp_path / "data", {"scratch": 6})
    split = few_shot_split(table, seed=0)
    out = tmp_path / "runs" / "split.json"
    write_split(split, out)
    payload = json.loads(out.read_text())
    assert payload["version"] == 1 and len(payload["rows"]) == len(split)
    back = read_split(out)
    assert list(back["role"]) == list(split["role"])
    assert list(back["sha256"]) == [file_sha256(p) for p in split["image_path"]]
    assert set(back.columns) >= {"image_path", "role", "defect_type", "sha256"}
    assert [p.name for p in out.parent.iterdir()] == ["split.json"], "no temp file left"
    with pytest.raises(DatasetError, match="malformed split file"):
        (tmp_path / "bad.json").write_text("{")
        read_split(tmp_path / "bad.json")


# -- the validation fold ------------------------------------------------------------------


def _hashes(split: pd.DataFrame, role: str, label: int | None = None) -> set[str]:
    rows = rows_for(split, role)
    if label is not None:
        rows = rows[rows["label"] == label]
    return {file_sha256(p) for p in rows["image_path"]}


def _roles(split: pd.DataFrame, role: str) -> list[str]:
    return sorted(split.loc[split["role"] == role, "image_path"])


@pytest.mark.parametrize("seed", [0, 1, 2, 7, 123])
def test_validation_fold_comes_out_of_the_generator_share(tmp_path, seed):
    table = _table(tmp_path, {"scratch": 30, "dent": 9, "hole": 2})
    plain = few_shot_split(table, seed=seed)
    fold = few_shot_split(table, seed=seed, validation_fraction=1 / 3)
    counts = fold.groupby(["role", "defect_type"]).size().to_dict()
    # scratch: 10 generator-side → 3 validation + 7 generator_train; dent: 3 → 1 + 2; hole: 1 → 0 + 1
    assert counts[("validation", "scratch")] == 3 and counts[("generator_train", "scratch")] == 7
    assert counts[("validation", "dent")] == 1 and counts[("generator_train", "dent")] == 2
    assert ("validation", "hole") not in counts and counts[("generator_train", "hole")] == 1
    assert counts[("test", "scratch")] == 20 and counts[("test", "dent")] == 6 and counts[("test", "hole")] == 1
    # test is exactly the split without a fold; the fold + generator_train is its generator_train
    assert _roles(fold, "test") == _roles(plain, "test")
    anomalies = set(table.loc[table["label"] == 1, "image_path"])
    held_out = [p for p in _roles(fold, "validation") if p in anomalies]
    assert sorted(_roles(fold, "generator_train") + held_out) == _roles(plain, "generator_train")
    # normals untouched: the dataset's own validation normals stay validation, train stays detector_train
    normal = table["label"] == 0
    assert list(fold.loc[normal, "role"]) == list(plain.loc[normal, "role"])
    # validation_fraction 0 is no fold
    assert list(few_shot_split(table, seed=seed, validation_fraction=0.0)["role"]) == list(plain["role"])


def _with_duplicates(root: Path) -> tuple[pd.DataFrame, list[list[int]]]:
    """Anomalies with byte-identical copies inside a defect type (3 extra scratch copies, 2 dent copies)."""
    table = _table(root, {"scratch": 14, "dent": 8, "hole": 3})
    groups = []
    for defect, n in (("scratch", 4), ("dent", 3)):
        idx = list(table.index[table["defect_type"] == defect][:n])
        for i in idx[1:]:
            shutil.copyfile(table.at[idx[0], "image_path"], table.at[i, "image_path"])
        groups.append(idx)
    return table, groups


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 7, 11, 123])
def test_validation_fold_is_disjoint_from_test_and_generator_by_file_hash(tmp_path, seed):
    table, groups = _with_duplicates(tmp_path)
    split = few_shot_split(table, seed=seed, validation_fraction=0.5)
    val = _hashes(split, "validation")
    val_anomalies = _hashes(split, "validation", label=1)
    assert val_anomalies, "the fold has real anomalies"
    assert not val & _hashes(split, "test")
    assert not val & _hashes(split, "generator_train")
    assert not val & _hashes(split, "detector_train")
    assert not _hashes(split, "generator_train") & _hashes(split, "test")
    for idx in groups:
        assert len(set(split.loc[idx, "role"])) == 1, f"seed {seed}: duplicates straddle the split"
    # every defect type keeps at least one image for its generator
    gen = rows_for(split, "generator_train")
    assert set(gen["defect_type"]) == {"scratch", "dent", "hole"}


def test_duplicates_land_in_the_fold_together(tmp_path):
    table, groups = _with_duplicates(tmp_path)
    seen = set()
    for seed in range(30):
        split = few_shot_split(table, seed=seed, validation_fraction=0.5)
        for idx in groups:
            roles = set(split.loc[idx, "role"])
            assert len(roles) == 1, f"seed {seed}: duplicates straddle the split ({roles})"
            seen |= roles
    assert "validation" in seen, "no seed put a duplicate group into the fold: the check above tested nothing"


def test_validation_fold_is_seeded_and_order_independent(tmp_path):
    table = _table(tmp_path, {"scratch": 30, "dent": 9})
    a = few_shot_split(table, seed=5, validation_fraction=1 / 3, validation_normal_fraction=0.25)
    b = few_shot_split(table.sample(frac=1.0, random_state=0), seed=5, validation_fraction=1 / 3,
                       validation_normal_fraction=0.25)
    assert _roles(a, "validation") == _roles(b, "validation")
    assert _roles(a, "generator_train") == _roles(b, "generator_train")
    assert any(_roles(few_shot_split(table, seed=s, validation_fraction=1 / 3), "validation")
               != _roles(a, "validation") for s in range(6, 10))


def test_adding_a_defect_type_does_not_reshuffle_the_fold(tmp_path):
    one = few_shot_split(_table(tmp_path / "a", {"scratch": 30}), seed=3, validation_fraction=1 / 3)
    two = few_shot_split(_table(tmp_path / "b", {"scratch": 30, "dent": 9}), seed=3, validation_fraction=1 / 3)
    rel = lambda split, root: sorted(str(Path(p).relative_to(root)) for p in _roles(split, "validation")  # noqa: E731
                                     if "/scratch/" in p)
    assert rel(one, tmp_path / "a") == rel(two, tmp_path / "b")


@pytest.mark.parametrize("seed", [0, 1, 4])
def test_validation_normals_carved_from_train_when_the_dataset_has_none(tmp_path, seed):
    table = _table(tmp_path, {"scratch": 6, "dent": 3}, n_train=8, n_val=0)
    plain = few_shot_split(table, seed=seed)
    split = few_shot_split(table, seed=seed, validation_normal_fraction=0.25)
    normal_train = table.index[(table["label"] == 0) & (table["split"] == "train")]
    val = split[split["role"] == "validation"]
    assert len(val) == 2 and (val["label"] == 0).all() and set(val.index) <= set(normal_train)
    assert (split["role"] == "detector_train").sum() == 6
    vh = {file_sha256(p) for p in val["image_path"]}
    assert not vh & _hashes(split, "test") and not vh & _hashes(split, "detector_train")
    # test and the anomalies' roles are those of the split without a normal fold
    assert _roles(split, "test") == _roles(plain, "test")
    anomalous = table["label"] == 1
    assert list(split.loc[anomalous, "role"]) == list(plain.loc[anomalous, "role"])
    # at least one normal train image always stays for the detector
    tiny = _table(tmp_path / "one", {"scratch": 3}, n_train=1, n_val=0)
    assert (few_shot_split(tiny, seed=seed, validation_normal_fraction=0.9)["role"] == "detector_train").sum() == 1


def test_validation_normals_present_leave_train_untouched(tmp_path):
    table = _table(tmp_path, {"scratch": 6}, n_train=8, n_val=2)
    plain = few_shot_split(table, seed=0)
    split = few_shot_split(table, seed=0, validation_normal_fraction=0.25)
    assert list(split["role"]) == list(plain["role"])
    assert (split["role"] == "detector_train").sum() == 8
    assert _roles(split, "validation") == sorted(table.loc[table["split"] == "validation", "image_path"])


@pytest.mark.parametrize("kwargs", [
    {"validation_fraction": 1.0}, {"validation_fraction": 1.5}, {"validation_fraction": -0.1},
    {"validation_normal_fraction": 1.0}, {"validation_normal_fraction": -0.25},
])
def test_validation_fractions_out_of_range(tmp_path, kwargs):
    table = _table(tmp_path, {"scratch": 6})
    (name,) = kwargs
    with pytest.raises(DatasetError, match=f"{name} .* out of range"):
        few_shot_split(table, seed=0, **kwargs)


def test_split_file_records_the_fold(tmp_path):
    table = _table(tmp_path / "data", {"scratch": 9})
    split = few_shot_split(table, seed=0, validation_fraction=1 / 3)
    write_split(split, tmp_path / "split.json")
    back = read_split(tmp_path / "split.json")
    assert list(back["role"]) == list(split["role"]) and (back["role"] == "validation").sum() == 3  # 2 normals + 1


def test_duplicates_across_defect_types_stay_on_one_side(tmp_path):
    table = _table(tmp_path, {"scratch": 6, "dent": 6})
    a = table.index[table["defect_type"] == "scratch"][0]
    d = table.index[table["defect_type"] == "dent"][0]
    shutil.copyfile(table.at[a, "image_path"], table.at[d, "image_path"])
    for seed in range(10):
        split = few_shot_split(table, seed=seed, validation_fraction=1 / 3)
        assert not _hashes(split, "validation") & _hashes(split, "test"), f"seed {seed}"
        assert not _hashes(split, "generator_train") & _hashes(split, "test"), f"seed {seed}"


def test_carved_validation_normals_have_no_copy_in_detector_train(tmp_path):
    table = _table(tmp_path, {"scratch": 6}, n_train=8, n_val=0)
    train = table.index[(table["label"] == 0) & (table["split"] == "train")]
    for i in train[1:4]:
        shutil.copyfile(table.at[train[0], "image_path"], table.at[i, "image_path"])
    for seed in range(10):
        split = few_shot_split(table, seed=seed, validation_normal_fraction=0.25)
        assert not _hashes(split, "validation") & _hashes(split, "detector_train"), f"seed {seed}"
