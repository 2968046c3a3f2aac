import numpy as np
import pandas as pd
import pytest

from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore
from harness.report import collect_results, signal_check, write_report

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


# --- signal check: is the spread across generators larger than seed noise? ---

def _grid(tmp_path, means: dict[str, tuple[float, float]], offsets: tuple[float, ...]):
    """Cells of detector `seg` on 2 categories: generator → (image AUROC, pixel AP) + a per-seed offset."""
    store = CellStore(tmp_path / "run")
    for gen, (auroc, pap) in means.items():
        for seed, off in enumerate(offsets):
            for cat in ("c1", "c2"):
                store.save(CellRecord(CellKey("builtin", cat, gen, "seg", seed, "f"),
                                      {"image_auroc": auroc + off, "pixel_ap": pap + off}))
    return tmp_path / "run"


def _report(run, tmp_path, gens):
    out = tmp_path / "rep"
    paths = write_report(run, out, title="t", metrics=["image_auroc", "pixel_ap"], generator_order=gens)
    check = pd.read_csv(out / "signal.csv").set_index("metric")
    return paths, (out / "results.md").read_text(), check


def test_signal_when_generators_differ_beyond_seed_noise(tmp_path):
    gens = ["none", "dhdiff", "cutpaste"]
    run = _grid(tmp_path, {"none": (0.6, 0.1), "dhdiff": (0.8, 0.3), "cutpaste": (0.7, 0.2)}, (-0.01, 0.0, 0.01))
    paths, md, check = _report(run, tmp_path, gens)
    assert tmp_path / "rep" / "signal.csv" in paths
    assert list(check.columns) == ["detector", "effect", "seed_std", "ratio", "verdict", "best", "runner_up",
                                   "vs_none", "compared", "n_generators", "n_seeds"]
    r = check.loc["pixel_ap"]
    # none is left out of the spread: 0.3 − 0.2 among the generators that augment, not 0.3 − 0.1;
    # every generator's seeds are ±0.01 → std 0.01; against none separately: 0.3 − 0.1
    assert r["effect"] == pytest.approx(0.1) and r["seed_std"] == pytest.approx(0.01) and r["ratio"] == pytest.approx(10.0)
    assert (r["verdict"], r["best"], r["runner_up"], r["compared"]) == ("signal", "dhdiff", "cutpaste", "augmenting")
    assert r["vs_none"] == pytest.approx(0.2) and (r["n_generators"], r["n_seeds"]) == (2, 3)
    assert check.loc["image_auroc", "verdict"] == "signal"
    assert ("- seg: spread among generators that augment on P-AP 0.100, seed std 0.010 → 10.0× — signal "
            "(best: dhdiff, runner-up: cutpaste; best − none +0.200)") in md
    assert "do not rank" not in md
    assert md.index("# t") < md.index("## Signal check") < md.index("## Detectors trained")


def test_noise_warns_above_the_main_table(tmp_path):
    # pixel AP: 0.10 vs 0.11 with seeds ±0.05 → ratio 0.01 / 0.05 = 0.2; image AUROC 0.3 apart → 6×
    run = _grid(tmp_path, {"none": (0.5, 0.10), "cutpaste": (0.8, 0.11)}, (-0.05, 0.0, 0.05))
    _, md, check = _report(run, tmp_path, ["none", "cutpaste"])
    assert check.loc["pixel_ap", "verdict"] == "noise" and check.loc["pixel_ap", "ratio"] == pytest.approx(0.2)
    assert check.loc["image_auroc", "verdict"] == "signal" and check.loc["image_auroc", "ratio"] == pytest.approx(6.0)
    warning = ("> **Warning: do not rank these.** For seg the differences between generators on P-AP are within "
               "seed noise (0.2× the seed std; a rank needs ≥ 3×).")
    assert md.count("do not rank these") == 1 and warning in md
    main = md.split("## Detectors trained with each generator's anomalies")[1]
    assert main.index(warning) < main.index("| generator")  # between the heading and the table


def test_one_seed_is_unknown(tmp_path):
    run = _grid(tmp_path, {"none": (0.5, 0.1), "cutpaste": (0.9, 0.5)}, (0.0,))
    _, md, check = _report(run, tmp_path, ["none", "cutpaste"])
    assert set(check["verdict"]) == {"unknown (1 seed)"}
    assert check["seed_std"].isna().all() and check["ratio"].isna().all()
    assert check.loc["pixel_ap", "effect"] == pytest.approx(0.4) and check.loc["pixel_ap", "n_seeds"] == 1
    assert ("> **Warning: do not rank these.** For seg the differences between generators on I-AUROC and P-AP rest on "
            "only one seed: seed noise is unknown; run ≥ 2 seeds before ranking.") in md
    assert "seed std n/a (1 seed) — unknown (1 seed) (best: cutpaste, runner-up: none)" in md


def test_pooled_seed_std_by_hand(tmp_path):
    store = CellStore(tmp_path / "run")
    # per-seed pixel AP after averaging the 2 categories: a 0.1, 0.3 · b 0.5, 0.6, 0.7 · c 0.9 (one seed)
    values = {"a": [(0.0, 0.2), (0.2, 0.4)], "b": [(0.5, 0.5), (0.55, 0.65), (0.7, 0.7)], "c": [(0.8, 1.0)]}
    for gen, seeds in values.items():
        for seed, cats in enumerate(seeds):
            for cat, v in zip(("c1", "c2"), cats):
                store.save(CellRecord(CellKey("builtin", cat, gen, "seg", seed, "f"), {"pixel_ap": v}))
    df = collect_results(tmp_path / "run")
    check = signal_check(df, ["a", "b", "c"], ["seg"], ["pixel_ap"])
    assert len(check) == 1
    r = check.iloc[0]
    # var(a) = 0.02, var(b) = 0.01 (ddof 1), c has one seed and is left out: sqrt((0.02 + 0.01) / 2)
    assert r["seed_std"] == pytest.approx(0.122474, abs=1e-6)
    assert r["effect"] == pytest.approx(0.9 - 0.2) and r["ratio"] == pytest.approx(0.7 / 0.122474, rel=1e-5)
    assert (r["verdict"], r["best"], r["n_generators"], r["n_seeds"]) == ("signal", "c", 3, 3)
    lone = signal_check(df, ["b"], ["seg"], ["pixel_ap"]).iloc[0]
    assert lone["verdict"] == "n/a" and np.isnan(lone["effect"]) and lone["seed_std"] == pytest.approx(0.1)


def test_validation_fold_table_is_the_best_of_each_curve_and_kept_apart_from_test(tmp_path):
    """Model selection reads the validation fold: the report gives its own table (the step each
    detector kept = the best of its curve), apart from the test tables, with its signal check."""
    store = CellStore(tmp_path / "run")
    for seed in (0, 1):
        for gen, (v1, v2) in {"a": (0.20, 0.40), "b": (0.10, 0.15)}.items():
            curve = [{"step": 50, "train_loss": 0.3, "val_pixel_ap": v1},
                     {"step": 100, "train_loss": 0.2, "val_pixel_ap": v2 + 0.01 * seed},
                     {"step": 150, "train_loss": 0.1, "val_pixel_ap": v1}]
            store.save(CellRecord(CellKey("builtin", "c", gen, "frozen-seg", seed, "f"),
                                  {"pixel_ap": 0.5 if gen == "b" else 0.3}, n_generated=8, curve=curve))
    store.save(CellRecord(CellKey("builtin", "c", ONE_CLASS, "padim", 0, "f"), {"pixel_ap": 0.1}))
    df = collect_results(tmp_path / "run")
    assert df.loc[(df.generator == "a") & (df.seed == 1), "val_pixel_ap"].item() == pytest.approx(0.41)
    assert df.loc[df.generator == ONE_CLASS, "val_pixel_ap"].isna().all()  # no curve, no value
    out = tmp_path / "rep"
    write_report(tmp_path / "run", out, title="t", metrics=["pixel_ap"], generator_order=["a", "b"])
    md = (out / "results.md").read_text()
    section = md.split("## Model selection: the validation fold")[1].split("\n## ")[0]
    assert "**0.405 ± 0.007**" in section and "0.155 ± 0.007" in section  # a best on validation...
    assert "frozen-seg: spread among generators that augment on val P-AP 0.250" in section
    main = md.split("## Detectors trained")[1].split("\n## ")[0]
    assert "**0.500 ± 0.000**" in main and "val P-AP" not in main  # ...b best on test, in its own table
    assert "Model selection" in (out / "results.tex").read_text()
    csv = pd.read_csv(out / "results.csv")
    val = csv[csv.metric == "val_pixel_ap"]
    assert set(val.generator) == {"a", "b"} and val["mean"].notna().all()  # padim keeps no curve: no row
