"""The baseline is the generator whose plug-in makes no pair, whatever its label, and a run may have none."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from harness.baseline import baseline_of, makes_pairs, run_baseline
from harness.config import validate_spec
from harness.pipeline import load_tables, plan
from harness.report_cost import gain_per_cost
from harness.report_tables import signal_check
from harness.verdict import sentence, verdicts

from tests.harness.test_pipeline import tiny_spec


def test_the_baseline_is_read_from_the_plug_in_not_the_label():
    assert not makes_pairs("none") and makes_pairs("cutpaste")
    assert makes_pairs("no-such-generator")  # an uninstalled plug-in of an old run is reported like any other
    assert baseline_of(["cutpaste", "none"]) == "none"
    assert baseline_of(["cp", "plain"], {"cp": "cutpaste", "plain": "none"}) == "plain"
    assert baseline_of(["none"], {"none": "cutpaste"}) is None  # a label is not a name
    assert baseline_of(["cutpaste", "draem"]) is None


def test_a_run_folder_names_its_baseline_through_its_spec(tmp_path):
    assert run_baseline(tmp_path, ["none", "cutpaste"]) == "none"  # no spec: labels are names
    spec = {"generators": [{"name": "none", "label": "no-aug"}, {"name": "cutpaste", "label": "none"}]}
    (tmp_path / "spec.json").write_text(json.dumps(spec))
    assert run_baseline(tmp_path, ["none", "no-aug"]) == "no-aug"


def _frame() -> pd.DataFrame:
    rng = np.random.default_rng(0)
    offsets = rng.normal(0, 0.05, 6)
    rows = []
    for g, level in (("no-aug", 0.05), ("cp", 0.40), ("dr", 0.25)):
        for i, off in enumerate(offsets):
            rows.append({"dataset": "d", "category": f"c{i % 3}", "seed": i // 3, "generator": g, "detector": "seg",
                         "pixel_ap": level + off + rng.normal(0, 0.005), "cost_fit_seconds": 120.0,
                         "cost_sample_seconds": 60.0, "n_generated": 0 if g == "no-aug" else 8})
    return pd.DataFrame(rows)


def test_reports_compare_against_a_relabelled_baseline_and_do_without_one():
    df, gens = _frame(), ["no-aug", "cp", "dr"]
    (v,) = verdicts(df, gens, ["seg"], ["pixel_ap"], baseline="no-aug")
    assert v.order == ["cp", "dr"] and [c.lower for c in v.vs_baseline] == ["no-aug", "no-aug"]
    assert sentence(v, "P-AP").endswith("all 2 beat no-aug.")
    (plain,) = verdicts(df, gens, ["seg"], ["pixel_ap"], baseline=None)  # no baseline: all three augment
    assert plain.order == ["cp", "dr", "no-aug"] and plain.vs_baseline == [] and "beat" not in sentence(plain, "P-AP")
    check = signal_check(df, gens, ["seg"], ["pixel_ap"], baseline="no-aug").iloc[0]
    assert check["compared"] == "augmenting" and check["vs_none"] > 0.3
    assert np.isnan(signal_check(df, gens, ["seg"], ["pixel_ap"], baseline=None).iloc[0]["vs_none"])
    gain = gain_per_cost(df, gens, ["seg"], "pixel_ap", "P-AP", baseline="no-aug")
    assert list(gain.index) == ["cp", "dr"]
    assert gain_per_cost(df, gens, ["seg"], "pixel_ap", "P-AP", baseline=None).empty


def test_a_relabelled_baseline_gets_one_cell_whatever_the_ratio_axis(tmp_path):
    spec = validate_spec(tiny_spec(tmp_path, generation={"n_samples": [2, 4], "quality_metrics": False},
                                   generators=[{"name": "none", "label": "no-aug"}, {"name": "cutpaste"}],
                                   detectors=[{"name": "supervised-seg"}]))
    got = sorted((j.key.generator, j.n_synthetic or 0) for j in plan(spec, load_tables(spec)))
    assert got == [("cutpaste", 2), ("cutpaste", 4), ("no-aug", 0)]
