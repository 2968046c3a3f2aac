"""The synthetic:normal ratio axis: `generation.n_samples: [a, b, …]` is a grid axis of nested subsets."""

from __future__ import annotations

import pytest

from harness.augmented import stratified_first
from harness.cells import ONE_CLASS, CellKey, CellRecord, CellStore
from harness.config import validate_spec
from harness.pipeline import load_tables, plan, run_experiment
from harness.report import write_report

from tests.harness.test_pipeline import tiny_spec


def test_counts_validate():
    base = {"name": "x", "generators": [{"name": "none"}], "detectors": [{"name": "padim"}]}
    g = validate_spec({**base, "generation": {"n_samples": [24, 6, 12]}}).generation
    assert g.pool == 24 and g.axis == [6, 12, 24]
    g = validate_spec({**base, "generation": {"n_samples": 8}}).generation
    assert g.pool == 8 and g.axis == [None]  # one count: no axis, cells keyed as before
    for bad in ([], [0, 4], [4, 4]):
        with pytest.raises(Exception, match="n_samples"):
            validate_spec({**base, "generation": {"n_samples": bad}})


def test_stratified_first_is_nested_and_keeps_the_types_balanced():
    gen = [{"defect_type": "a", "i": i} for i in range(6)] + [{"defect_type": "b", "i": i} for i in range(6)]
    four, eight = stratified_first(gen, 4), stratified_first(gen, 8)
    assert [r["defect_type"] for r in four] == ["a", "b", "a", "b"]
    assert four == eight[:4]  # a smaller count is a subset of every larger one
    assert stratified_first(gen, 50) == stratified_first(gen, 12) and len(stratified_first(gen, 50)) == 12


def test_plan_has_one_cell_per_count_but_one_for_none(tmp_path):
    spec = validate_spec(tiny_spec(tmp_path, generation={"n_samples": [2, 4], "quality_metrics": False},
                                   detectors=[{"name": "supervised-seg"}, {"name": "padim"}]))
    jobs = plan(spec, load_tables(spec))
    got = sorted((j.key.generator, j.key.detector, j.n_synthetic or 0) for j in jobs)
    assert got == [(ONE_CLASS, "padim", 0), ("cutpaste", "supervised-seg", 2), ("cutpaste", "supervised-seg", 4),
                   ("none", "supervised-seg", 0)]
    cut = [j for j in jobs if j.key.generator == "cutpaste"]
    assert cut[0].needs is cut[1].needs  # one generator fit and set for every count
    assert len({j.key.slug for j in jobs}) == len(jobs)


def test_one_count_keeps_the_keys_of_a_spec_without_the_axis(tmp_path):
    a = validate_spec(tiny_spec(tmp_path, generation={"n_samples": 8, "quality_metrics": False}))
    b = validate_spec(tiny_spec(tmp_path, generation={"n_samples": [8], "quality_metrics": False}))
    assert [j.key for j in plan(a, load_tables(a))] == [j.key for j in plan(b, load_tables(b))]


@pytest.mark.slow
def test_a_grid_on_the_axis_trains_on_each_count(tmp_path):
    spec = validate_spec(tiny_spec(tmp_path, generation={"n_samples": [2, 6], "quality_metrics": False},
                                   generators=[{"name": "cutpaste"}]))
    assert run_experiment(spec, show_progress=False, echo=lambda m: None).failed == []
    records = sorted(CellStore(spec.run_dir).records(), key=lambda r: r.key.n_synthetic)
    assert [(r.key.n_synthetic, r.n_generated) for r in records] == [(2, 2), (6, 6)]
    assert records[0].augmented_manifest == records[1].augmented_manifest and records[0].n_normal > 0


def test_report_draws_the_axis_and_keeps_the_largest_count_in_the_main_table(tmp_path):
    store = CellStore(tmp_path / "run")
    for seed in (0, 1):
        store.save(CellRecord(CellKey("b", "c", "none", "seg", seed, "f"), {"pixel_ap": 0.05, "image_auroc": 0.5},
                              n_normal=40))
        store.save(CellRecord(CellKey("b", "c", ONE_CLASS, "padim", seed, "f"), {"pixel_ap": 0.2, "image_auroc": 0.7}))
        for n, v in ((10, 0.3), (40, 0.5)):
            store.save(CellRecord(CellKey("b", "c", "cutpaste", "seg", seed, "f", n),
                                  {"pixel_ap": v + seed / 100, "image_auroc": 0.8}, n_generated=n, n_normal=40))
    out = tmp_path / "rep"
    write_report(tmp_path / "run", out, title="t", metrics=["pixel_ap", "image_auroc"],
                 generator_order=["none", "cutpaste"])
    md = (out / "results.md").read_text()
    main = md.split("## Detectors trained")[1].split("## ")[0]
    assert "0.505" in main and "0.305" not in main  # the main table: the largest count only
    ratio = md.split("## Synthetic:normal ratio")[1].split("## Per category")[0]
    assert "seg · 10 (0.25:1)" in ratio and "seg · 40 (1.00:1)" in ratio
    assert "0.305 ± 0.007" in ratio and "0.505 ± 0.007" in ratio
    row_none = next(line for line in ratio.splitlines() if line.startswith("| none"))
    assert row_none.count("0.050") == 2  # `none` is flat along the axis
    assert (out / "ratio_pixel_ap.png").is_file() and (out / "ratio_pixel_ap.pdf").is_file()
    assert "ratio" in (out / "results.tex").read_text()
