import pandas as pd
import pytest

from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore
from harness.report import collect_results, write_report

IS_NA = {"value": None, "unavailable": "weights missing; run bench doctor", "params": {}}


def _save(store, gen, det, seed, cat, auroc, pap):
    gen_metrics = {} if gen == ONE_CLASS else {"is": IS_NA, "ic_lpips": {"value": 0.3, "unavailable": None, "params": {}}}
    n = 0 if gen in (ONE_CLASS, "none") else 8
    store.save(CellRecord(CellKey("builtin", cat, gen, det, seed, "f"), {"image_auroc": auroc, "pixel_ap": pap},
                          generation=gen_metrics if n else {}, n_generated=n))


@pytest.fixture
def run_dir(tmp_path):
    store = CellStore(tmp_path / "run")
    for seed, (a, b) in enumerate([(0.60, 0.80), (0.70, 0.90)]):
        for cat in ("c1", "c2"):
            _save(store, "none", "seg", seed, cat, a, 0.1)
            _save(store, "cutpaste", "seg", seed, cat, b, 0.2 + seed * 0.1)
        _save(store, ONE_CLASS, "padim", seed, "c1", 0.55, 0.05)
    return tmp_path / "run"


def test_tables_mean_std_and_bold(run_dir, tmp_path):
    out = tmp_path / "rep"
    paths = write_report(run_dir, out, title="t", metrics=["image_auroc", "pixel_ap"],
                         generator_order=["none", "cutpaste"], detector_order=["seg", "padim"])
    assert {p.name for p in paths} >= {"results.md", "results.csv", "results.tex"}
    md = (out / "results.md").read_text()
    # cutpaste: per-seed means 0.80, 0.90 → 0.850 ± 0.071, best → bold; none: 0.650 ± 0.071
    assert "**0.850 ± 0.071**" in md and "0.650 ± 0.071" in md and "**0.650" not in md
    assert "One-class references" in md and "0.550" in md
    assert "n/a" in md and "weights missing" in md  # IS unavailable, with its reason
    quality = md.split("## Generation quality")[1].split("## ")[0]
    assert "| cutpaste" in quality and "| none" not in quality  # `none` generates nothing to judge
    rows = md.split("## Detectors trained")[1].split("##")[0]
    assert rows.index("none") < rows.index("cutpaste")  # spec order kept
    csv = pd.read_csv(out / "results.csv")
    r = csv[(csv.generator == "cutpaste") & (csv.metric == "pixel_ap")].iloc[0]
    assert r["mean"] == pytest.approx(0.25) and r["n_seeds"] == 2
    assert "one-class" in set(csv.generator)
    tex = (out / "results.tex").read_text()
    assert "\\textbf{0.850 $\\pm$ 0.071}" in tex and "\\toprule" in tex


def test_collect_and_empty(tmp_path, run_dir):
    df = collect_results(run_dir)
    assert len(df) == 10 and set(df.generator) == {"none", "cutpaste", ONE_CLASS}
    with pytest.raises(FileNotFoundError, match="no finished cells"):
        write_report(tmp_path / "nothing", tmp_path / "r", title="t", metrics=["image_auroc"])


def test_paired_differences_against_none(run_dir, tmp_path):
    out = tmp_path / "rep"
    write_report(run_dir, out, title="t", metrics=["image_auroc", "pixel_ap"], generator_order=["none", "cutpaste"])
    paired = (out / "results.md").read_text().split("## Against `none`")[1].split("## ")[0]
    # cutpaste − none per (category, seed): image AUROC +0.20 in all 4 pairs; pixel AP +0.1, +0.1, +0.2, +0.2
    assert "+0.200 ± 0.000 (4/4)" in paired and "+0.150 ± 0.058 (4/4)" in paired
    assert "| none" not in paired
