"""benchmarks/one_class_level.py: the per-category acceptance check of a detector against the one-class level."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pandas as pd

from harness.cells import ONE_CLASS

ROOT = Path(__file__).resolve().parents[2]
_spec = importlib.util.spec_from_file_location("one_class_level", ROOT / "benchmarks" / "one_class_level.py")
one_class_level = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(one_class_level)


def _cells(rows: dict[tuple[str, str], list[float]], category: str = "tiles") -> list[dict]:
    return [{"dataset": "builtin", "category": category, "generator": gen, "detector": det, "seed": seed,
             "pixel_ap": value, "seconds": 1.0}
            for (gen, det), values in rows.items() for seed, value in enumerate(values)]


def test_the_reference_is_the_better_one_class_detector_of_the_category_and_differences_are_paired():
    df = pd.DataFrame(_cells({
        (ONE_CLASS, "padim"): [0.30, 0.32, 0.31],
        (ONE_CLASS, "patchcore"): [0.20, 0.21, 0.22],
        ("none", "residual-seg"): [0.29, 0.33, 0.31],       # at the level: differences -0.01, +0.01, 0
        ("draem", "residual-seg"): [0.40, 0.41, 0.43],      # clearly above
        ("copy-paste", "residual-seg"): [0.35, 0.36, 0.34],
    }))
    (row,) = one_class_level.category_rows(df, "residual-seg", "pixel_ap")
    assert row["reference"] == "padim"
    mean, wins, n, p = row["none_vs_ref"]
    assert abs(mean) < 1e-9 and n == 3 and p > 0.05
    assert one_class_level.verdict(mean, p) == "≈"
    assert row["best_gen"] == "draem"
    mean, wins, n, p = row["best_vs_ref"]
    assert abs(mean - 0.1033333) < 1e-6 and wins == 3 and p < 0.05
    assert one_class_level.verdict(mean, p) == ">"


def test_a_none_row_clearly_below_the_reference_is_called_below():
    df = pd.DataFrame(_cells({
        (ONE_CLASS, "padim"): [0.30, 0.32, 0.31],
        ("none", "frozen-seg"): [0.04, 0.05, 0.03],
    }))
    (row,) = one_class_level.category_rows(df, "frozen-seg", "pixel_ap")
    mean, wins, n, p = row["none_vs_ref"]
    assert one_class_level.verdict(mean, p) == "<" and wins == 0
    assert "best_gen" not in row


def test_kept_statistics_are_read_from_each_cells_step_zero(tmp_path):
    import json

    def record(name, detector, seed, step0):
        key = {"dataset": "builtin", "category": "tiles", "generator": "none", "detector": detector, "seed": seed}
        (tmp_path / f"{name}.json").write_text(json.dumps({"key": key, "curve": [step0, {"step": 100}]}))

    record("a", "residual-seg", 0, {"step": 0, "one_class_knn": 1.0, "val_pixel_ap_gaussian": 0.2,
                                     "val_pixel_ap_knn": 0.3})
    record("b", "residual-seg", 1, {"step": 0, "one_class_knn": 0.0, "val_pixel_ap_gaussian": 0.4,
                                     "val_pixel_ap_knn": 0.1})
    record("c", "frozen-seg", 0, {"step": 0, "val_pixel_ap": 0.1})  # another detector: not read
    kept = one_class_level.kept_statistics(tmp_path, "residual-seg")
    assert kept.sort_values("seed")["knn"].tolist() == [True, False]
    assert kept["val_knn"].tolist() == [0.3, 0.1]


def test_kept_statistics_skip_records_of_a_superseded_configuration(tmp_path):
    """A run folder keeps the records of an older code hash; only the current grid's are read."""
    import json

    cells = tmp_path / "cells"
    cells.mkdir()
    key = {"dataset": "builtin", "category": "tiles", "generator": "none", "detector": "residual-seg", "seed": 0}
    for name, knn in (("now", 1.0), ("stale", 0.0)):
        step0 = {"step": 0, "one_class_knn": knn, "val_pixel_ap_gaussian": 0.2, "val_pixel_ap_knn": 0.3}
        (cells / f"{name}.json").write_text(json.dumps({"key": key, "curve": [step0]}))
    (tmp_path / "grid.json").write_text(json.dumps({"cells": {"now": {}}}))
    kept = one_class_level.kept_statistics(cells, "residual-seg")
    assert kept["knn"].tolist() == [True]
