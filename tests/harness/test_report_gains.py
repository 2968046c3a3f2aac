"""Gains over the best one-class reference: paired by (dataset, category, seed), reference by run mean."""

import numpy as np
import pandas as pd
import pytest

from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore
from harness.report import METRIC_NAMES, collect_results, write_report
from harness.report_gains import best_one_class, gain_table, gains_over_one_class


def _cells(rows: list[tuple]) -> pd.DataFrame:
    return pd.DataFrame([{"dataset": "d", "category": c, "generator": g, "detector": det, "seed": s, "pixel_ap": v}
                         for g, det, c, s, v in rows])


def test_reference_is_the_one_class_detector_with_the_best_run_mean():
    # padim wins c1 by a little, patchcore wins c2 by a lot: patchcore's run mean is higher
    df = _cells([(ONE_CLASS, "padim", "c1", 0, 0.30), (ONE_CLASS, "padim", "c2", 0, 0.10),
                 (ONE_CLASS, "patchcore", "c1", 0, 0.28), (ONE_CLASS, "patchcore", "c2", 0, 0.40),
                 ("none", "seg", "c1", 0, 0.05)])
    assert best_one_class(df, "pixel_ap") == "patchcore"
    assert best_one_class(df, "image_auroc") is None  # a metric no cell has
    assert best_one_class(df[df.generator != ONE_CLASS], "pixel_ap") is None  # no one-class cells


def test_gains_are_paired_differences_by_category_and_seed():
    rows = []
    for seed in (0, 1):
        for cat, ref in (("c1", 0.30), ("c2", 0.20)):
            rows.append((ONE_CLASS, "patchcore", cat, seed, ref + 0.01 * seed))
            rows.append((ONE_CLASS, "padim", cat, seed, ref - 0.1))
            rows.append(("none", "seg", cat, seed, ref - 0.20))  # always 0.20 below the reference
            rows.append(("copy-paste", "seg", cat, seed, ref + 0.05 + 0.01 * seed))  # +0.05 over its pair
    rows.append(("copy-paste", "seg", "c3", 0, 0.9))  # no reference cell in c3: not a pair
    gains = gains_over_one_class(_cells(rows), ["none", "copy-paste"], ["seg"], ["pixel_ap"])
    g = gains.set_index("generator")
    assert set(gains["reference"]) == {"patchcore"}
    assert g.loc["copy-paste", "mean"] == pytest.approx(0.05) and g.loc["copy-paste", "std"] == pytest.approx(0.0)
    assert (g.loc["copy-paste", "wins"], g.loc["copy-paste", "n_pairs"]) == (4, 4)
    # none: 0.10 − (0.30 + 0.01 s) … always −0.20 − 0.01 s
    assert g.loc["none", "mean"] == pytest.approx(-0.205) and g.loc["none", "wins"] == 0
    table = gain_table(gains, ["none", "copy-paste"], ["seg"], METRIC_NAMES)
    assert table.loc["copy-paste", "seg P-AP"] == "+0.050 ± 0.000 (4/4)"
    assert table.loc["none", "seg P-AP"] == "-0.205 ± 0.006 (0/4)"


def test_one_pair_has_no_std():
    df = _cells([(ONE_CLASS, "padim", "c1", 0, 0.3), ("none", "seg", "c1", 0, 0.4)])
    gains = gains_over_one_class(df, ["none"], ["seg"], ["pixel_ap"])
    assert np.isnan(gains["std"].iloc[0])
    assert gain_table(gains, ["none"], ["seg"], METRIC_NAMES).loc["none", "seg P-AP"] == "+0.100 (1/1)"


def test_report_has_the_gain_over_one_class_table_next_to_the_gain_over_none(tmp_path):
    store = CellStore(tmp_path / "run")
    for seed in (0, 1):
        for cat in ("c1", "c2"):
            for gen, det, pap in ((ONE_CLASS, "patchcore", 0.30), (ONE_CLASS, "padim", 0.20),
                                  ("none", "seg", 0.10), ("cutpaste", "seg", 0.35 + 0.02 * seed)):
                store.save(CellRecord(CellKey("builtin", cat, gen, det, seed, "f"), {"pixel_ap": pap},
                                      n_generated=0 if gen in (ONE_CLASS, "none") else 8))
    out = tmp_path / "rep"
    paths = write_report(tmp_path / "run", out, title="t", metrics=["pixel_ap"], generator_order=["none", "cutpaste"],
                         detector_order=["seg", "patchcore", "padim"])
    md = (out / "results.md").read_text()
    assert md.index("## Against `none`") < md.index("## Against the best one-class reference")
    section = md.split("## Against the best one-class reference")[1].split("\n## ")[0]
    assert "P-AP: `patchcore`" in section
    assert "+0.060 ± 0.012 (4/4)" in section  # cutpaste: 0.35/0.37 − 0.30
    assert "-0.200 ± 0.000 (0/4)" in section  # none: 0.10 − 0.30
    csv = pd.read_csv(out / "gains_one_class.csv")
    assert out / "gains_one_class.csv" in paths
    assert set(csv["reference"]) == {"patchcore"} and len(csv) == 2
    assert "Against the best one-class reference" in (out / "results.tex").read_text()


def test_report_without_one_class_cells_has_no_such_table(tmp_path):
    store = CellStore(tmp_path / "run")
    for seed in (0, 1):
        for gen in ("none", "cutpaste"):
            store.save(CellRecord(CellKey("builtin", "c", gen, "seg", seed, "f"), {"pixel_ap": 0.1 + seed / 10}))
    out = tmp_path / "rep"
    write_report(tmp_path / "run", out, title="t", metrics=["pixel_ap"])
    assert "one-class reference" not in (out / "results.md").read_text()
    assert not (out / "gains_one_class.csv").exists()
    assert len(collect_results(tmp_path / "run")) == 4
