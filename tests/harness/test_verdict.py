"""The verdict: ties called ties, a clear winner called one, nothing tested on too few pairs."""

import numpy as np
import pandas as pd
import pytest
import scipy.stats

from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore
from harness.verdict import compare, paired_t, run_verdict, verdict_lines, verdicts


def _frame(values: dict[str, list[float]], cats=("c1",)) -> pd.DataFrame:
    """One row per (generator, category, seed); values[g] lists pixel AP per (category, seed) pair in turn."""
    rows = []
    for g, vals in values.items():
        for i, v in enumerate(vals):
            rows.append({"dataset": "builtin", "category": cats[i % len(cats)], "seed": i // len(cats),
                         "generator": g, "detector": "seg", "pixel_ap": v})
    return pd.DataFrame(rows)


def test_a_difference_that_crosses_zero_is_a_tie():
    # draem − copy-paste per pair: −0.043, +0.009 → mean −0.017, the sign flips between seeds
    df = _frame({"none": [0.05, 0.06], "copy-paste": [0.310, 0.280], "draem": [0.267, 0.289],
                 "cutpaste": [0.15, 0.16]})
    (v,) = verdicts(df, ["none", "copy-paste", "draem", "cutpaste"], ["seg"], ["pixel_ap"])
    assert v.order == ["copy-paste", "draem", "cutpaste"]
    top = v.steps[0]
    assert (top.upper, top.lower, top.n_pairs, top.call) == ("copy-paste", "draem", 2, "≈")
    assert top.ci_low < 0 < top.ci_high
    (line,) = verdict_lines(df, metrics=["pixel_ap"], metric_names={"pixel_ap": "P-AP"})
    assert line.startswith("seg, P-AP: copy-paste ≈ draem")
    assert "copy-paste and draem tie (+0.017" in line
    assert "ahead" not in line


def test_a_clear_winner_is_called_one_and_none_is_compared_separately():
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.05, 6)  # shared by every generator of a (category, seed): the paired design
    df = _frame({"none": list(0.05 + offsets), "dhdiff": list(0.40 + offsets + rng.normal(0, 0.005, 6)),
                 "cutpaste": list(0.25 + offsets + rng.normal(0, 0.005, 6))}, cats=("c1", "c2", "c3"))
    (v,) = verdicts(df, ["none", "cutpaste", "dhdiff"], ["seg"], ["pixel_ap"])
    assert v.order == ["dhdiff", "cutpaste"] and v.steps[0].call == ">" and v.steps[0].p < 0.001
    assert [c.call for c in v.vs_baseline] == [">", ">"]
    (line,) = verdict_lines(df, metric_names={"pixel_ap": "P-AP"})
    assert line.startswith("seg, P-AP: dhdiff > cutpaste; dhdiff is ahead of cutpaste (+0.15")
    assert line.endswith("all 2 beat none.")


def test_one_pair_is_untested_and_says_how_many_are_needed():
    df = _frame({"none": [0.1], "a": [0.5], "b": [0.2]})
    (line,) = verdict_lines(df)
    assert line == ("seg, pixel_ap: a ≈ b; a and b cannot be separated (1 pair; a paired test needs ≥ 2); "
                    "against none: untested (1 pair; a paired test needs ≥ 2).")


def test_paired_t_is_scipys_and_a_generator_below_none_is_named():
    d = np.array([0.1, 0.3, 0.2, 0.25])
    res = scipy.stats.ttest_1samp(d, 0.0)
    ci = res.confidence_interval(0.95)
    assert paired_t(d) == pytest.approx((res.pvalue, ci.low, ci.high))
    df = _frame({"none": [0.5, 0.52, 0.51], "a": [0.30, 0.31, 0.33]})
    c = compare(df, "a", "none", "seg", "pixel_ap")
    assert c.call == "<" and c.wins == 0
    (line,) = verdict_lines(df)
    assert line.endswith("a is below none.")


def test_run_verdict_reads_a_run_folder_as_bench_run_prints_it(tmp_path):
    store = CellStore(tmp_path / "run")
    for seed in (0, 1, 2):
        for g, v in {"none": 0.1, "a": 0.5, "b": 0.3}.items():
            store.save(CellRecord(CellKey("builtin", "c", g, "seg", seed, "f"),
                                  {"pixel_ap": v + 0.01 * seed, "image_auroc": 0.6}))
        store.save(CellRecord(CellKey("builtin", "c", ONE_CLASS, "padim", seed, "f"), {"pixel_ap": 0.9}))
    lines = run_verdict(tmp_path / "run", ["none", "b", "a"], ["seg", "padim"])
    assert lines[0] == "seg, P-AP: a > b; a is ahead of b (+0.200, p 0, 3 pairs); all 2 beat none."
    # equal means keep the spec's order; equal everywhere is a tie with none too
    assert lines[1] == "seg, I-AUROC: b ≈ a; b and a tie (+0.000, p 1, 3 pairs); b, a tie with none."
    assert len(lines) == 2  # the one-class detector compares no generators
    assert run_verdict(tmp_path / "empty") == []
