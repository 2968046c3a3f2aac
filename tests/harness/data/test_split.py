"""The few-shot split: roles, seeded fractions, and no test image ever reaching a generator."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from PIL import Image

from harness.data.io import file_sha256
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
